"""Dispatch of shard runs to a deployment, on the session's Prefect server.

No worker runs here: the test takes each new flow run of the deployment and ends it the way a
worker's run would (completed, failed, crashed), so the parent's decisions are checked against
the server's real states and runs. The real workers, a real kill and the heartbeat watchdog
are in tests/e2e/test_shards_on_pool.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.sorting import FlowRunSort
from prefect.runtime import flow_run
from prefect.states import Completed, Crashed, Failed, Pending, Running, State

from prefect_botpenguin import shard_pool
from prefect_botpenguin.shard_pool import (
    SHARD_WATCHDOG,
    ShardJob,
    ShardRun,
    ensure_shard_watchdog,
    run_shards_on_pool,
)

pytestmark = pytest.mark.usefixtures("prefect_harness")

FLOW = "shard-pool-probe"


@pytest.fixture(autouse=True)
def _fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shard_pool, "POLL_SECONDS", 0.2)


async def _deployment(name: str) -> tuple[str, UUID]:
    async with get_client() as client:
        flow_id = await client.create_flow_from_name(FLOW)
        deployment_id = await client.create_deployment(flow_id=flow_id, name=name)
    return f"{FLOW}/{name}", deployment_id


Ending = Callable[[int, int], State | str | None]
"""What the stand-in worker does with shard ``index``'s attempt ``attempt``: a final state,
"delete" to delete the run, or None to leave the run waiting."""


async def _worker(deployment_id: UUID, ending: Ending, seen: list[dict[str, Any]]) -> None:
    """Take each new run of the deployment, as a worker would, and end it as ``ending`` says."""
    handled: set[UUID] = set()
    async with get_client() as client:
        while True:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            )
            for run in runs:
                if run.id in handled:
                    continue
                handled.add(run.id)
                seen.append({"id": run.id, **run.parameters})
                index = run.parameters.get("index", run.parameters.get("shard"))
                final = ending(index, run.parameters["attempt"])
                if final == "delete":
                    await client.delete_flow_run(run.id)
                elif isinstance(final, State) and final.is_pending():
                    await client.set_flow_run_state(run.id, final, force=True)
                elif final is not None:
                    await client.set_flow_run_state(run.id, Running(), force=True)
                    await client.set_flow_run_state(run.id, final, force=True)
            await asyncio.sleep(0.1)


def _run(name: str, jobs: list[ShardJob], ending: Ending, **options: Any):
    async def main():
        deployment, deployment_id = await _deployment(name)
        seen: list[dict[str, Any]] = []
        done: list[ShardRun] = []

        async def on_done(result: ShardRun) -> None:
            done.append(result)

        worker = asyncio.create_task(_worker(deployment_id, ending, seen))
        try:
            results = await run_shards_on_pool(deployment, jobs, on_done=on_done, **options)
        finally:
            worker.cancel()
        async with get_client() as client:
            states = {
                r.id: r.state_type.value
                for r in await client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
                )
            }
        return results, seen, done, states

    return asyncio.run(main())


def _jobs(n: int) -> list[ShardJob]:
    return [ShardJob(i, {"index": i, "accounts": [f"acct-{i}"]}) for i in range(n)]


def test_completed_shards_run_once_with_their_parameters_and_attempt_one():
    results, seen, done, _ = _run("all-complete", _jobs(3), lambda i, k: Completed())
    assert [r.state for r in results] == ["COMPLETED"] * 3
    assert [r.index for r in results] == [0, 1, 2]
    assert all(len(r.flow_run_ids) == 1 and r.message is None for r in results)
    assert sorted((s["index"], s["attempt"], s["accounts"][0]) for s in seen) == [
        (0, 1, "acct-0"),
        (1, 1, "acct-1"),
        (2, 1, "acct-2"),
    ]
    assert sorted(r.index for r in done) == [0, 1, 2]


def test_a_crashed_shard_is_run_again_as_a_new_flow_run_until_it_completes():
    def ending(index: int, attempt: int) -> State:
        if index == 1 and attempt < 3:
            return Crashed(message="No heartbeat for 45 s") if attempt == 1 else Failed()
        return Completed()

    results, seen, _, states = _run("crash-then-complete", _jobs(2), ending)
    crashed = results[1]
    assert crashed.state == "COMPLETED"
    assert crashed.message is None
    assert len(crashed.flow_run_ids) == 3
    assert len(set(crashed.flow_run_ids)) == 3
    assert [states[i] for i in crashed.flow_run_ids] == ["CRASHED", "FAILED", "COMPLETED"]
    assert [s["attempt"] for s in seen if s["index"] == 1] == [1, 2, 3]
    assert len(results[0].flow_run_ids) == 1


def test_shards_past_one_read_of_runs_are_still_watched_and_run_again(
    monkeypatch: pytest.MonkeyPatch,
):
    """More shards than one read returns (the server answers 200 at most; 256 shards are
    allowed): the last batch's crash is seen and re-run too."""
    monkeypatch.setattr(shard_pool, "READ_BATCH", 2)

    def ending(index: int, attempt: int) -> State:
        return Crashed(message="worker gone") if index == 4 and attempt == 1 else Completed()

    results, seen, _, _ = _run("many-shards", _jobs(5), ending)
    assert [r.state for r in results] == ["COMPLETED"] * 5
    assert len(results[4].flow_run_ids) == 2
    assert [s["attempt"] for s in seen if s["index"] == 4] == [1, 2]


def test_a_shard_whose_run_was_deleted_ends_instead_of_being_waited_for_for_ever():
    def ending(index: int, attempt: int) -> State | str:
        return "delete" if index == 1 else Completed()

    results, _, _, _ = _run("deleted-run", _jobs(2), ending)
    assert [r.state for r in results] == ["COMPLETED", "CRASHED"]
    assert results[1].message == "gone after 1 run(s): its flow run was deleted"


def test_a_shard_that_cannot_be_started_ends_failed_with_the_reason_in_one_line():
    results = asyncio.run(run_shards_on_pool(f"{FLOW}/never-deployed", _jobs(2)))
    assert [(r.state, r.flow_run_ids) for r in results] == [("FAILED", ())] * 2
    for result in results:
        assert (result.message or "").startswith("not started after 0 run(s): ")
        assert "\n" not in (result.message or "")


def test_a_shard_that_keeps_failing_is_given_up_after_its_attempts_with_one_line():
    def ending(index: int, attempt: int) -> State:
        return Failed(message="account\nlookup broke") if index == 0 else Completed()

    results, seen, done, _ = _run("keeps-failing", _jobs(2), ending, attempts=2)
    failed = results[0]
    assert failed.state == "FAILED"
    assert failed.message == "failed after 2 run(s): account lookup broke"
    assert len(failed.flow_run_ids) == 2
    assert [s["attempt"] for s in seen if s["index"] == 0] == [1, 2]
    assert {r.index: r.state for r in done} == {0: "FAILED", 1: "COMPLETED"}


def test_a_given_up_shard_says_how_it_ended_once_in_the_fanouts_failure_line(tmp_path):
    from prefect_botpenguin.core.shards import AccountRef
    from prefect_botpenguin.fanout import CallLimits
    from prefect_botpenguin.flows.sharded import (
        ShardOptions,
        ShardPlan,
        manifest_failure,
        run_sharded,
    )

    plan = ShardPlan(
        what="segments",
        export=f"{tmp_path}/{{account}}.csv",
        manifest=f"{tmp_path}/_manifest.json",
        export_format=None,
        export_filesystem=None,
        partner_credentials=None,
        partner_from_env=True,
        limits=CallLimits(concurrency=2, concurrency_limit=None, rate_limit=None),
    )

    @flow  # a parent's run, as segments_fanout's: its artifacts belong to it
    async def main():
        deployment, deployment_id = await _deployment("given-up")
        lost = Failed(message="worker\nlost its disk")
        worker = asyncio.create_task(_worker(deployment_id, lambda i, k: lost, []))
        try:
            return await run_sharded(
                [AccountRef(label="Acme", customer_id="c-1")],
                plan,
                ShardOptions(shards=1, deployment=deployment, attempts=2),
                filesystem=None,
                progress_key="shard-pool-given-up-progress",
                summary_key="shard-pool-given-up-summary",
            )
        finally:
            worker.cancel()
            async with get_client() as client:
                for automation in await client.read_automations_by_name(SHARD_WATCHDOG):
                    await client.delete_automation(automation.id)

    manifest = asyncio.run(main())
    (entry,) = manifest.accounts
    assert entry.error == "shard 0 failed after 2 run(s): worker lost its disk"
    line = str(manifest_failure(manifest, "shard-pool-given-up-summary"))
    assert line == (
        "1 of 1 BotPenguin account(s) failed; everything else was collected and saved: "
        "Acme: shard 0 failed after 2 run(s): worker lost its disk."
    )


def test_a_shard_not_ended_within_the_wait_is_cancelled_and_reported_as_it_was():
    def ending(index: int, attempt: int) -> State | None:
        return Completed() if index == 0 else None  # shard 1: no worker ever takes it

    results, _, _, states = _run("never-taken", _jobs(2), ending, wait_timeout=1.5)
    assert results[0].state == "COMPLETED"
    waited = results[1]
    assert waited.state == "SCHEDULED"
    assert waited.message == "not finished within 1.5 s (scheduled after 1 run(s))"
    assert states[waited.flow_run_ids[-1]] == "CANCELLED"


def test_a_run_whose_worker_died_before_starting_it_is_crashed_and_run_again(monkeypatch):
    """Claimed (PENDING) and never started: no process, so no heartbeat for the watchdog."""
    monkeypatch.setattr(shard_pool, "PENDING_LIMIT", 1.0)

    def ending(index: int, attempt: int) -> State:
        return Pending() if attempt == 1 else Completed()

    results, _, _, states = _run("lost-before-start", _jobs(1), ending)
    (shard,) = results
    assert shard.state == "COMPLETED"
    assert [states[i] for i in shard.flow_run_ids] == ["CRASHED", "COMPLETED"]


def test_shard_runs_started_inside_a_flow_show_under_it():
    @flow
    async def parent() -> tuple[str, list[ShardRun]]:
        deployment, deployment_id = await _deployment("under-parent")
        worker = asyncio.create_task(_worker(deployment_id, lambda i, k: Completed(), []))
        try:
            return flow_run.id, await run_shards_on_pool(deployment, _jobs(2))
        finally:
            worker.cancel()

    async def parents_of(results: list[ShardRun]) -> set[UUID | None]:
        async with get_client() as client:
            runs = [await client.read_flow_run(r.flow_run_ids[0]) for r in results]
            tasks = [await client.read_task_run(r.parent_task_run_id) for r in runs]
        return {t.flow_run_id for t in tasks}

    parent_id, results = asyncio.run(parent())
    assert asyncio.run(parents_of(results)) == {UUID(parent_id)}


def test_two_parents_creating_the_watchdog_at_once_leave_one():
    from prefect.events.schemas.automations import AutomationCore

    from prefect_botpenguin.automations import crash_when_silent

    async def race():
        twin = crash_when_silent(
            SHARD_WATCHDOG, ["x"], timedelta(seconds=45), description="d", after={"a"}
        )
        async with get_client() as client:
            core = AutomationCore(**twin.model_dump(exclude={"id", "owner_resource"}))
            await client.create_automation(core)
            await client.create_automation(core)
        await asyncio.gather(*(ensure_shard_watchdog(timedelta(seconds=45)) for _ in range(2)))
        async with get_client() as client:
            found = await client.read_automations_by_name(SHARD_WATCHDOG)
            for automation in found:
                await client.delete_automation(automation.id)
        return found

    (kept,) = asyncio.run(race())
    assert kept.trigger.match_related["prefect.resource.name"] == ["botpenguin-fanout-shard"]


def test_the_watchdog_is_created_once_then_kept_and_refuses_a_short_silence():
    async def apply_twice():
        first = await ensure_shard_watchdog(timedelta(seconds=45))
        second = await ensure_shard_watchdog(timedelta(seconds=45))
        changed = await ensure_shard_watchdog(timedelta(seconds=60))
        async with get_client() as client:
            (automation,) = await client.read_automations_by_name(SHARD_WATCHDOG)
            await client.delete_automation(automation.id)
        return first, second, changed, automation

    first, second, changed, automation = asyncio.run(apply_twice())
    assert (first.outcome, second.outcome, changed.outcome) == ("created", "unchanged", "updated")
    assert first.id == second.id == changed.id
    trigger = automation.trigger
    assert trigger.within == timedelta(seconds=60)
    assert trigger.match_related["prefect.resource.name"] == ["botpenguin-fanout-shard"]
    assert set(trigger.after) == {"prefect.flow-run.heartbeat", "prefect.flow-run.Running"}
    assert automation.actions[0].state.value == "CRASHED"
    with pytest.raises(ValueError, match=r"at least 1\.5 heartbeats"):
        asyncio.run(ensure_shard_watchdog(timedelta(seconds=30)))
