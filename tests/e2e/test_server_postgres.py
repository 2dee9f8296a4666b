"""The README's "Scale out", for real: the server on PostgreSQL 15, two workers on one pool.

The ``postgres_stack`` fixture has run every command of that section against a throwaway
cluster (and the setup steps it refers back to); these tests run the deployments on it.
"""

from __future__ import annotations

import csv

import pytest

from prefect_botpenguin.artifacts import segment_table_rows
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.deployments.serve import load_deployment_specs
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS

pytestmark = pytest.mark.e2e

REPORT = "botpenguin-segments-report/segments-report"
SYNC = "botpenguin-segments-sync/segments-sync"
WORKERS = {"botpenguin-1", "botpenguin-2"}


def test_server_keeps_its_state_in_postgres(postgres_stack):
    stack, cluster = postgres_stack
    deployments = int(cluster.query("prefect", "SELECT count(*) FROM deployment"))
    assert deployments == len(stack.api("POST", "/deployments/filter", json={}))
    assert deployments == len(load_deployment_specs())


def test_both_workers_serve_the_pool_under_its_limit(postgres_stack):
    stack, _ = postgres_stack
    workers = stack.api("POST", "/work_pools/botpenguin/workers/filter", json={})
    assert {w["name"] for w in workers if w["status"] == "ONLINE"} == WORKERS
    assert stack.api("GET", "/work_pools/botpenguin")["concurrency_limit"] == 4
    for name, kind in {
        "botpenguin-docker": "docker",
        "botpenguin-kubernetes": "kubernetes",
    }.items():
        assert stack.api("GET", f"/work_pools/{name}")["type"] == kind


def test_report_and_sync_complete_side_by_side(postgres_stack, tmp_path):
    stack, _ = postgres_stack
    destination = tmp_path / "segments.csv"
    started = [
        stack.start_run(REPORT, {"account": "pg-report"}),
        stack.start_run(
            SYNC,
            {
                "account": "pg-sync",
                "export": {"enabled": True, "destination": str(destination)},
                "watch": {"state": str(tmp_path / "snapshots")},
            },
        ),
    ]
    for run_id in started:
        run = stack.wait_for_run(run_id)
        assert run["state_type"] == "COMPLETED", stack.failure_report(run)

    expected = segment_table_rows([Segment.model_validate(s) for s in SAMPLE_SEGMENTS])
    assert stack.latest_rows("botpenguin-segments-pg-report") == expected
    assert stack.latest_rows("botpenguin-segments-pg-sync") == expected
    with destination.open(newline="", encoding="utf-8") as handle:
        assert [row["id"] for row in csv.DictReader(handle)] == [s["_id"] for s in SAMPLE_SEGMENTS]
