"""Sharded fan-outs on a real work pool lose nothing when a worker is killed mid-shard.

One Prefect server, the pack's shard deployment on a process pool, three workers (two runs
each), and the sandbox partner with hundreds of accounts, slowed so a shard is surely
half-way when its worker dies. Two parents run at once in their own processes, as users'
terminals would: a segments fan-out and a members fan-out, three shards each on the pool,
and one global concurrency limit for all six shards.

Then the worker holding a half-way segments shard is SIGKILLed with its flow runs'
processes (a lost machine). Nothing is left to report its runs, so they stay Running until
the heartbeat watchdog (``ensure_shard_watchdog``, 45 s of silence at the 30 s heartbeat the
deployment sends) marks them Crashed; each parent runs its shard again on a live worker.
The checks: every account's segments and members are in the output exactly once, each
file complete, and nothing else beside them (the re-run sweeps the hidden temporary files
the killed writes left); the manifests and summaries say so; the sandbox never saw more
requests in flight than the limit allows; and the slots the dead run held come back when
its lease runs out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import TERMINAL_STATES, Service, Stack, readme_command
from shard_pool_stack import POOL, PoolStack, adopt_sandbox, flow_run_pid, wait_for

from prefect_botpenguin.core.accounts import account_slug
from prefect_botpenguin.sandbox import SandboxServer
from prefect_botpenguin.shard_pool import SHARD_FLOW, SHARD_WATCHDOG

SUMMARY_KEYS = {
    "segments": "botpenguin-fanout-summary",
    "members": "botpenguin-members-fanout-summary",
}

ACCOUNTS = 150
SHARDS = 3
SEGMENTS = 2
"""Segments per account, and below, contacts per segment: 2 x 10 member rows per account."""
CONTACTS = 10
LIMIT = 6
"""The global concurrency limit: each parent gives each of its shards LIMIT // SHARDS = 2
slots, so six shards want 12 and some wait for slots: the server holds the bound."""
LATENCY = 0.1
"""Seconds per sandbox request: a segments shard of 50 accounts takes ~5 s of requests."""
SHARD_DEPLOYMENT = "botpenguin-fanout-shard/fanout-shard"
PARTNER_BLOCK = "partner"
LIMIT_NAME = "botpenguin-api"
DEPLOY = "uv run prefect --no-prompt deploy --prefect-file deployments/prefect.yaml"
PARENT_WAIT = 300.0
"""The parents' documented bound (shard_timeout): a test that hangs fails instead."""

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
from prefect_botpenguin import flows

fanout = getattr(flows, sys.argv[1])
asyncio.run(fanout(
    partner_credentials=sys.argv[2],
    export=sys.argv[3],
    shards=int(sys.argv[4]),
    shard_deployment=sys.argv[5],
    concurrency=8,
    concurrency_limit=sys.argv[6],
    shard_timeout=float(sys.argv[7]),
))
"""


@pytest.fixture(scope="module")
def pool() -> Iterator[PoolStack]:
    """Server, partner block, pool, limit, the shard deployment, three workers."""
    partner = SandboxServer.simulated(
        ACCOUNTS, segments_per_account=SEGMENTS, contacts_per_segment=CONTACTS, latency=LATENCY
    )
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


def _start_parent(pool: PoolStack, what: str, export: str) -> Service:
    flow = {"segments": "segments_fanout", "members": "members_fanout"}[what]
    options = [PARTNER_BLOCK, export, str(SHARDS), SHARD_DEPLOYMENT, LIMIT_NAME, str(PARENT_WAIT)]
    return pool.stack.start(f"parent-{what}", ["uv", "run", "python", "-c", PARENT, flow, *options])


def _outputs(root: Path) -> tuple[dict[str, Path], list[Path]]:
    """Each account's file (by name, from every shard's folder), and any hidden leftovers."""
    files = [p for p in root.glob("*/*") if p.parent.name.isdigit()]
    visible = [p for p in files if not p.name.startswith(".")]
    names = [p.stem for p in visible]
    assert len(names) == len(set(names)), "an account's file in two shards"
    return {p.stem: p for p in visible}, [p for p in files if p.name.startswith(".")]


def test_a_worker_killed_mid_shard_loses_no_account_and_the_bound_holds(
    pool: PoolStack, tmp_path: Path, record_property: Any
) -> None:
    stack = pool.stack
    roots = {"segments": tmp_path / "segments", "members": tmp_path / "members"}
    suffixes = {"segments": "json", "members": "jsonl"}
    parents = {
        what: _start_parent(pool, what, f"{roots[what]}/{{shard}}/{{account}}.{suffixes[what]}")
        for what in roots
    }

    # A segments shard that has fetched some of its accounts, not all: its worker dies now.
    # Only while every run on that worker is RUNNING: the watchdog is what is tested here (a
    # run claimed but not started is the parent's, tests/tasks/test_shard_pool.py).
    def victim() -> tuple[str, int, int] | None:
        asked = _customers_asked(pool.partner)
        runs = pool.flow_runs(SHARD_FLOW)
        for run in runs:
            params = run["parameters"]
            done = len(asked & set(params["customer_ids"]))
            half_way = params["what"] == "segments" and 0 < done < len(params["customer_ids"])
            worker = pool.ran_on(run["id"]) if half_way else None
            if run["state_type"] == "RUNNING" and worker is not None:
                on_it = [r for r in runs if r["state_type"] not in TERMINAL_STATES]
                on_it = [r for r in on_it if pool.ran_on(r["id"]) == worker]
                if all(r["state_type"] == "RUNNING" and flow_run_pid(r) for r in on_it):
                    return worker, done, len(params["customer_ids"])
        for what, parent in parents.items():
            if parent.process.poll() is not None:
                raise AssertionError(f"the {what} parent ended before the kill:\n{parent.tail()}")
        return None

    worker, fetched, of = wait_for("a segments shard half-way on a worker", victim, timeout=180)
    held = [
        r
        for r in pool.flow_runs(SHARD_FLOW)
        if r["state_type"] not in TERMINAL_STATES and pool.ran_on(r["id"]) == worker
    ]
    killed_at = time.monotonic()
    pool.kill(worker, [pid for r in held if (pid := flow_run_pid(r))])

    for what, parent in parents.items():
        code = parent.process.wait(timeout=PARENT_WAIT + 60)
        assert code == 0, f"{what}: {parent.tail()}\n{_states(pool, held)}"
    waited = time.monotonic() - killed_at

    # Each killed run was marked Crashed by the watchdog and ran again on a live worker.
    runs = pool.flow_runs(SHARD_FLOW)
    by_id = {r["id"]: r for r in runs}
    reruns: list[str] = []
    for killed in held:
        crashed = by_id[killed["id"]]
        assert crashed["state_type"] == "CRASHED", crashed["state"]
        assert SHARD_WATCHDOG in crashed["state"]["message"]
        key = (killed["parameters"]["what"], killed["parameters"]["shard"])
        (again,) = [r for r in runs if _key(r) == key and r["parameters"]["attempt"] == 2]
        assert again["state_type"] == "COMPLETED", again["state"]
        assert pool.ran_on(again["id"]) not in (None, worker)
        reruns.append(f"{key[0]} shard {key[1]} on {pool.ran_on(again['id'])}")
    killed_keys = {_key(r) for r in held}
    first_runs = [r for r in runs if _key(r) not in killed_keys]
    every_shard = {(what, shard) for what in roots for shard in range(SHARDS)}
    assert sorted(map(_key, first_runs)) == sorted(every_shard - killed_keys)
    assert all(r["state_type"] == "COMPLETED" for r in first_runs)

    # Every account exactly once, each file complete; no partial file under any name: the
    # re-run removed the hidden temporary files of the writes the kill cut short.
    expected = sorted(account_slug(c["name"]) for c in pool.partner.customers)
    counted: dict[str, int] = {}
    for what, root in roots.items():
        files, hidden = _outputs(root)
        assert sorted(files) == expected, f"{what}: each account's file, once"
        assert hidden == [], f"{what}: leftovers of the killed writes"
        reports = root / "_shards"
        assert list(reports.rglob(".*")) == [], f"{what}: a shard report's leftover"
        manifest = json.loads((root / "_manifest.json").read_text())["accounts"]
        assert sorted(account_slug(e["label"]) for e in manifest) == expected
        assert all(e["error"] is None for e in manifest)
        killed_shards = {shard for w, shard in killed_keys if w == what}
        assert all(e["attempt"] == (2 if e["shard"] in killed_shards else 1) for e in manifest)
        if what == "segments":
            rows = [json.loads(p.read_text()) for p in files.values()]
            assert {len(r) for r in rows} == {SEGMENTS}
            assert all(e["segment_count"] == SEGMENTS for e in manifest)
        else:
            rows = [
                [json.loads(line) for line in p.read_text().splitlines()] for p in files.values()
            ]
            for members in rows:  # each (segment, contact) once
                assert len({(m["segment_id"], m["id"]) for m in members}) == len(members)
                assert len(members) == SEGMENTS * CONTACTS
            assert all(e["member_count"] == SEGMENTS * CONTACTS for e in manifest)
        counted[what] = sum(map(len, rows))
        summary = stack.latest_artifact(SUMMARY_KEYS[what])["data"]
        assert f"{ACCOUNTS} of {ACCOUNTS} account(s)" in summary
        assert f"in {SHARDS} shard(s)" in summary

    # One bound for the pool: the server's limit held across six shards, three workers and
    # the re-runs; and the slots the dead runs held come back when their lease runs out.
    assert 0 < pool.partner.max_in_flight <= LIMIT

    def slots_back() -> bool:
        limit = stack.api("GET", f"/v2/concurrency_limits/{LIMIT_NAME}")
        return limit["active_slots"] == 0

    wait_for("the dead shards' slots back", slots_back, timeout=150, every=2)
    slots_back_after = time.monotonic() - killed_at

    lines = [
        f"shards on a pool: {ACCOUNTS} accounts, a segments and a members fan-out at once, "
        f"{SHARDS} shards each, 3 workers; limit {LIMIT}, max in flight "
        f"{pool.partner.max_in_flight}",
        f"killed {worker} holding {len(held)} run(s), a segments shard half-way ({fetched} of "
        f"{of} accounts fetched); re-run after the watchdog's Crashed: "
        f"{'; '.join(reruns)}; parents done {waited:.0f} s after the kill, "
        f"the dead runs' slots back after {slots_back_after:.0f} s",
        f"outputs counted once: {ACCOUNTS} segment files ({counted['segments']} segments), "
        f"{ACCOUNTS} member files ({counted['members']} rows), manifests list every account "
        "once; no temp file left",
    ]
    for line in lines:
        print(line)
        record_property("run_note", line)


def _states(pool: PoolStack, runs: list[dict[str, Any]]) -> str:
    """The killed runs' states and events, for a failure report."""
    lines = []
    for run in runs:
        now = pool.stack.api("GET", f"/flow_runs/{run['id']}")
        events = pool.stack.events("prefect.flow-run", f"prefect.flow-run.{run['id']}")
        names = [f"{e['occurred'][11:19]} {e['event']}" for e in events]
        lines.append(f"{run['id']} {now['state_type']}: {', '.join(sorted(names))}")
    return "\n".join(lines)


def _customers_asked(partner: SandboxServer) -> set[str]:
    """The customers whose token a shard has asked the partner API for."""
    queries = (parse_qs(urlsplit(r.path).query) for r in partner.requests)
    return {q["userId"][0] for q in queries if "userId" in q}


def _key(run: dict[str, Any]) -> tuple[str, int]:
    return run["parameters"]["what"], run["parameters"]["shard"]
