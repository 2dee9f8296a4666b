"""A sharded fan-out on a real work pool loses nothing when a worker is killed mid-shard.

One Prefect server, the pack's shard deployment on a process pool, three workers (one run
each), and the sandbox partner with hundreds of accounts, slowed so a shard is surely
half-way when its worker dies. The parent runs in its own process, as a user's terminal
would, with three shards on the pool and one global concurrency limit for all of them.

Then one worker holding a shard is SIGKILLed with its flow run's process (a lost machine).
Nothing is left to report the run, so it stays Running until the heartbeat watchdog
(``ensure_shard_watchdog``, 45 s of silence at the 30 s heartbeat the deployment sends)
marks it Crashed; the parent runs the shard again on a live worker. The checks: every
account's segments are in the output exactly once, complete, with no temporary file left;
the manifest and the summary say so; the sandbox never saw more requests in flight than
the limit allows; and the slots the dead run held come back when its lease runs out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Stack, readme_command
from shard_pool_stack import POOL, PoolStack, adopt_sandbox, flow_run_pid, wait_for

from prefect_botpenguin.core.accounts import account_slug
from prefect_botpenguin.sandbox import SandboxServer
from prefect_botpenguin.shard_pool import SHARD_FLOW, SHARD_WATCHDOG

ACCOUNTS = 240
SHARDS = 3
LIMIT = 6
"""The global concurrency limit: each shard holds LIMIT // SHARDS = 2 of its slots."""
LATENCY = 0.06
"""Seconds per sandbox request: a shard of 80 accounts then takes ~5 s of requests."""
SHARD_DEPLOYMENT = "botpenguin-fanout-shard/fanout-shard"
PARTNER_BLOCK = "partner"
LIMIT_NAME = "botpenguin-api"
DEPLOY = "uv run prefect --no-prompt deploy --prefect-file deployments/prefect.yaml"
PARENT_WAIT = 300.0
"""The parent's documented bound (shard_timeout): a test that hangs fails instead."""

SETUP = """
import asyncio, sys
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, WorkPoolCreate
from prefect_botpenguin import BotPenguinCredentials

BotPenguinCredentials.register_type_and_schema()
BotPenguinCredentials(api_token=sys.argv[1], base_url=sys.argv[2]).save(sys.argv[3])

async def main():
    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name=sys.argv[4], type="process"))
        limit = GlobalConcurrencyLimitCreate(name=sys.argv[5], limit=int(sys.argv[6]))
        await client.create_global_concurrency_limit(limit)

asyncio.run(main())
"""
"""What the README's setup does (block type, credentials block, pool), in one process, plus
the global limit: each `prefect` command costs seconds of imports, and CI time is short."""

PARENT = """
import asyncio, sys
from prefect_botpenguin.flows.fanout import segments_fanout

asyncio.run(segments_fanout(
    partner_credentials=sys.argv[1],
    export=sys.argv[2],
    shards=int(sys.argv[3]),
    shard_deployment=sys.argv[4],
    concurrency=8,
    concurrency_limit=sys.argv[5],
    shard_timeout=float(sys.argv[6]),
))
"""


@pytest.fixture(scope="module")
def pool() -> Iterator[PoolStack]:
    """Server, partner block, pool, limit, the shard deployment, three workers."""
    partner = SandboxServer.simulated(ACCOUNTS, segments_per_account=2, latency=LATENCY)
    partner.start()
    stack = Stack("shards-on-pool", adopt_sandbox(partner))
    try:
        stack.execute(readme_command("prefect server start"))
        stack.env["PREFECT_API_URL"] = stack.api_url
        token = partner.partner_token or ""
        setup = [PARTNER_BLOCK, POOL, LIMIT_NAME, str(LIMIT)]
        stack.run(["uv", "run", "python", "-c", SETUP, token, partner.url, *setup], "setup")
        pool = PoolStack(stack, partner)
        pool.start_workers(*(f"shard-worker-{n}" for n in (1, 2, 3)))
        deploy = f"{DEPLOY} --name {SHARD_DEPLOYMENT.split('/')[1]}"
        stack.run(["bash", "-c", f"exec {deploy}"], "deploy the shard deployment")
        pool.wait_for_workers()
        yield pool
    finally:
        stack.stop()
        partner.stop()


def _shard_files(out: Path, shard: int) -> list[Path]:
    return sorted((out / str(shard)).glob("*.json"))


def test_a_worker_killed_mid_shard_loses_no_account_and_the_bound_holds(
    pool: PoolStack, tmp_path: Path, record_property: Any
) -> None:
    stack = pool.stack
    out = tmp_path / "out"
    export = str(out / "{shard}" / "{account}.json")
    parent = stack.start(
        "parent",
        [
            "uv",
            "run",
            "python",
            "-c",
            PARENT,
            PARTNER_BLOCK,
            export,
            str(SHARDS),
            SHARD_DEPLOYMENT,
            LIMIT_NAME,
            str(PARENT_WAIT),
        ],
    )

    # A shard that has written some of its files, not all: its worker dies now.
    def victim() -> tuple[dict[str, Any], int, str] | None:
        for run in pool.flow_runs(SHARD_FLOW):
            pid = flow_run_pid(run)
            written = len(_shard_files(out, run["parameters"]["shard"]))
            if run["state_type"] == "RUNNING" and pid and 0 < written < ACCOUNTS // SHARDS:
                worker = pool.ran_on(run["id"])
                if worker is not None:
                    return run, pid, worker
        if parent.process.poll() is not None:
            raise AssertionError(f"the parent ended before a shard was half-way:\n{parent.tail()}")
        return None

    run, pid, worker = wait_for("shard half-way on a worker", victim, timeout=180)
    shard = run["parameters"]["shard"]
    written_before_kill = len(_shard_files(out, shard))
    killed_at = time.monotonic()
    pool.kill(worker, pid)

    assert parent.process.wait(timeout=PARENT_WAIT + 60) == 0, parent.tail()
    waited = time.monotonic() - killed_at

    # The killed run was marked Crashed by the watchdog, and the shard ran again elsewhere.
    runs = pool.flow_runs(SHARD_FLOW)
    by_id = {r["id"]: r for r in runs}
    crashed = by_id[run["id"]]
    assert crashed["state_type"] == "CRASHED", crashed["state"]
    assert SHARD_WATCHDOG in crashed["state"]["message"]
    reruns = [r for r in runs if r["parameters"]["shard"] == shard and r["id"] != run["id"]]
    assert [r["parameters"]["attempt"] for r in reruns] == [2]
    (rerun,) = reruns
    assert rerun["state_type"] == "COMPLETED"
    rerun_on = pool.ran_on(rerun["id"])
    assert rerun_on not in (None, worker)  # the dead one runs nothing
    others = [r for r in runs if r["parameters"]["shard"] != shard]
    assert sorted(r["parameters"]["shard"] for r in others) == sorted(set(range(SHARDS)) - {shard})
    assert all(r["state_type"] == "COMPLETED" for r in others)

    # Every account exactly once, complete, and nothing half-written left behind.
    expected = {account_slug(c["name"]) for c in pool.partner.customers}
    files = sorted(p for p in out.glob("*/*") if p.parent.name.isdigit())
    hidden = [p for p in files if p.name.startswith(".")]
    visible = [p for p in files if not p.name.startswith(".")]
    names = [p.stem for p in visible]
    assert sorted(names) == sorted(expected), "each account's file, once"
    segments = {p.stem: json.loads(p.read_text()) for p in visible}  # each one complete
    assert {len(s) for s in segments.values()} == {2}
    # SIGKILL mid-write can leave only a hidden temporary sibling, never a final name.
    assert all(".tmp-" in p.name and p.parent.name == str(shard) for p in hidden), hidden
    manifest = json.loads((out / "_manifest.json").read_text())
    entries = manifest["accounts"]
    assert len(entries) == ACCOUNTS
    assert len({e["label"] for e in entries}) == ACCOUNTS
    assert all(e["error"] is None and e["segment_count"] == 2 for e in entries)
    assert {e["attempt"] for e in entries if e["shard"] == shard} == {2}

    # One bound for the pool: the server's limit held across three workers and a re-run.
    assert 0 < pool.partner.max_in_flight <= LIMIT
    summary = stack.latest_artifact("botpenguin-fanout-summary")["data"]
    assert f"{ACCOUNTS} of {ACCOUNTS} account(s)" in summary
    assert f"**{2 * ACCOUNTS}** segment(s) in {SHARDS} shard(s)" in summary

    # The dead run's slots were never released: its lease (SHARD_LEASE_SECONDS) runs out and
    # the server takes them back, so nothing waits on them for ever.
    def slots_back() -> bool:
        limit = stack.api("GET", f"/v2/concurrency_limits/{LIMIT_NAME}")
        return limit["active_slots"] == 0

    wait_for("the dead shard's slots back", slots_back, timeout=150, every=2)
    slots_back_after = time.monotonic() - killed_at

    lines = [
        f"shards on a pool: {ACCOUNTS} accounts in {SHARDS} shards on 3 workers "
        f"(limit {LIMIT}, max in flight {pool.partner.max_in_flight})",
        f"killed {worker} with shard {shard} half-way ({written_before_kill} of "
        f"{ACCOUNTS // SHARDS} files); Crashed by the watchdog, re-run as attempt 2 on "
        f"{rerun_on}; parent done {waited:.0f} s after the kill, the dead run's slots back "
        f"after {slots_back_after:.0f} s",
        f"outputs: {len(names)} account files, each once; {sum(map(len, segments.values()))} "
        f"segments; manifest lists every account once; {len(hidden)} hidden temp file(s) "
        "of the killed run",
    ]
    for line in lines:
        print(line)
        record_property("run_note", line)
