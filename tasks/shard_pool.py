"""Shards as flow runs on a work pool: start them, wait for them, run lost ones again.

A parent flow hands each shard to the shard deployment (``run_deployment``), so whichever
worker of the pool is free takes it, and the shard runs show under the parent in the UI.
The parent then polls the runs' states. The rules for a run that ended are in
``core.shard_attempts``: completed is done, failed or crashed is run again as a new flow run
with the same parameters (up to ``attempts`` runs), cancelled is given up.

A worker that dies (SIGKILL, a lost machine) leaves its run RUNNING forever: nothing in it is
left to report. The shard deployment sends flow-run heartbeats, and ``ensure_shard_watchdog``
keeps one automation on the server that marks a shard run Crashed when they stop, which makes
it final, and so run again here. Shards carry references (block names, customer ids), never
tokens, so a re-run on another machine loads the same credentials from the server.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.exceptions import MissingContextError, ObjectNotFound, PrefectHTTPStatusError
from prefect.logging import get_logger, get_run_logger
from prefect.states import Cancelled, Cancelling, Crashed

from .automations import PREFIX, Applied, apply_automations, crash_when_silent
from .core.shard_attempts import (
    FINAL_STATES,
    PENDING_LIMIT,
    check_silence,
    decide,
    lost_before_start,
    one_line,
)

SHARD_FLOW = "botpenguin-fanout-shard"
"""The shard flow's name: the watchdog matches runs by flow name, as heartbeats name it."""
SHARD_WATCHDOG = f"{PREFIX}silent shard -> Crashed"
POLL_SECONDS = 2.0
"""How often the parent reads its shards' states: one API call per ``READ_BATCH`` of them."""
READ_BATCH = 100
"""Runs read per request: a server answers at most its own default limit (200 unless set
lower), and a fan-out may have more shards running than that."""


@dataclass(frozen=True)
class ShardJob:
    """One shard to run: its index and the shard flow's parameters (references only)."""

    index: int
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ShardRun:
    """How a shard ended: its flow runs (one per attempt, the last is final) and state.

    ``message`` (None when it completed) is the whole story in one line, e.g. "failed after
    3 run(s): REASON": a caller puts the shard's name in front and nothing else.
    """

    index: int
    flow_run_ids: tuple[UUID, ...]
    state: str
    message: str | None


@dataclass
class _Shard:
    job: ShardJob
    runs: list[UUID] = field(default_factory=list)


async def ensure_shard_watchdog(silence: timedelta) -> Applied:
    """Create or update, by name, the automation that marks silent shard runs Crashed.

    A shard run that sent a heartbeat (or went Pending or Running) and then sends nothing for
    ``silence`` (no heartbeat, no state change) lost its process: the automation sets it
    Crashed, and ``run_shards_on_pool`` runs the shard again. ``silence`` must be at least
    1.5 of the deployment's heartbeats (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``, 30 s or more),
    so a live run is never marked.
    """
    check_silence(silence.total_seconds())
    watchdog = crash_when_silent(
        SHARD_WATCHDOG,
        [SHARD_FLOW],
        silence,
        description=f"Mark a {SHARD_FLOW} run Crashed when it sends no heartbeat or state "
        f"change for {int(silence.total_seconds())} s (its worker or machine is gone), so "
        "the parent fan-out runs the shard again.",
        # From Running on (a run sends its first heartbeat as it starts, so a run killed in
        # between is caught too), not from Pending: a run still starting on a slow pool is
        # never taken for dead; one its worker claimed but never started is the parent's to
        # rescue (PENDING_LIMIT). On Prefect 3.4 the worker sends the heartbeats: start it
        # with PREFECT_RUNNER_HEARTBEAT_FREQUENCY=30 (docs/scale-out.md).
        after={"prefect.flow-run.heartbeat", "prefect.flow-run.Running"},
    )
    first: Applied | None = None
    for _ in range(5):  # another parent may be creating it too: converge on one
        try:
            (applied,) = await apply_automations([watchdog])
        except (ObjectNotFound, PrefectHTTPStatusError) as exc:
            if not _gone(exc):
                raise
            continue  # the other parent deleted the one we were updating
        first = first or applied
        if not await _keep_one(SHARD_WATCHDOG):
            return Applied(first.name, first.outcome, applied.id, first.changed)
    raise RuntimeError(f"could not settle on one {SHARD_WATCHDOG!r} automation")


async def _keep_one(name: str) -> bool:
    """Two parents starting at once may both create the watchdog: keep one, the same one
    whichever parent looks (the least id), so neither deletes the one the other keeps."""
    async with get_client() as client:
        found = await client.read_automations_by_name(name)
        for extra in sorted(found, key=lambda automation: str(automation.id))[1:]:
            try:
                await client.delete_automation(extra.id)
            except (ObjectNotFound, PrefectHTTPStatusError) as exc:
                if not _gone(exc):
                    raise
    return len(found) > 1


def _gone(exc: Exception) -> bool:
    """The automation was deleted meanwhile (Prefect's client says so in two ways)."""
    return isinstance(exc, ObjectNotFound) or exc.response.status_code == 404  # type: ignore[attr-defined]


async def _read_runs(client: PrefectClient, ids: list[UUID]) -> list[FlowRun]:
    """The current state of every listed run, in batches the server answers in full."""
    runs: list[FlowRun] = []
    for start in range(0, len(ids), READ_BATCH):
        batch = ids[start : start + READ_BATCH]
        runs += await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=batch)), limit=len(batch)
        )
    return runs


async def run_shards_on_pool(
    deployment: str,
    jobs: Sequence[ShardJob],
    *,
    attempts: int = 3,
    wait_timeout: float | None = None,
    on_done: Callable[[ShardRun], Awaitable[None]] | None = None,
) -> list[ShardRun]:
    """Run each job as a flow run of ``deployment`` and wait until every shard has ended.

    Args:
        deployment: The shard deployment, as ``"flow-name/deployment-name"``.
        jobs: The shards; each run gets the job's parameters plus ``attempt`` (1, 2, ...).
        attempts: Most flow runs per shard: a FAILED or CRASHED run is run again until then.
        wait_timeout: Seconds after which the parent stops waiting: shards not ended by then
            are cancelled and reported in the state they were in. ``core.shard_attempts.
            wait_bound`` gives a safe value; None waits as long as it takes.
        on_done: Awaited with each shard's final ``ShardRun`` as soon as it is known.

    Returns:
        One ``ShardRun`` per job, in the order of ``jobs``.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    logger = _logger()
    deadline = None if wait_timeout is None else time.monotonic() + wait_timeout
    shards = {job.index: _Shard(job) for job in jobs}
    finished: dict[int, ShardRun] = {}

    async def finish(result: ShardRun) -> None:
        finished[result.index] = result
        if on_done is not None:
            await on_done(result)

    async def start(shard: _Shard) -> None:
        """Start the shard's next attempt; one that cannot be started ends the shard, so the
        shards already running are still waited for and reported."""
        try:
            shard.runs.append(await _start(deployment, shard.job, attempt=len(shard.runs) + 1))
        except Exception as exc:
            reason = one_line(f"{type(exc).__name__}: {exc}")
            logger.warning("Shard %d could not be started: %s", shard.job.index, reason)
            message = f"not started after {len(shard.runs)} run(s): {reason}"
            await finish(ShardRun(shard.job.index, tuple(shard.runs), "FAILED", message))

    for shard in shards.values():
        await start(shard)
    logger.info("Started %d shard run(s) of %s", len(shards) - len(finished), deployment)

    async with get_client() as client:
        while len(finished) < len(shards):
            if deadline is not None and time.monotonic() >= deadline:
                for index, shard in shards.items():
                    if index not in finished:
                        await finish(await _give_up_waiting(client, shard, wait_timeout))
                break
            await asyncio.sleep(POLL_SECONDS)
            active = {shard.runs[-1]: shard for i, shard in shards.items() if i not in finished}
            runs = await _read_runs(client, list(active))
            for gone in set(active) - {run.id for run in runs}:
                logger.warning("Shard %d: run %s is gone (deleted?)", active[gone].job.index, gone)
                await finish(_gone_run(active[gone]))
            for run in runs:
                shard = active[run.id]
                state = run.state_type.value if run.state_type else "SCHEDULED"
                if run.state is not None and lost_before_start(
                    state, _age(run.state.timestamp), PENDING_LIMIT
                ):
                    state = await _crash_unstarted(client, run.id)
                step = decide(state, len(shard.runs), attempts)
                if step == "rerun":
                    logger.warning(
                        "Shard %d: run %s ended %s; running it again (attempt %d of %d)",
                        shard.job.index,
                        run.id,
                        state,
                        len(shard.runs) + 1,
                        attempts,
                    )
                    await start(shard)
                elif step != "wait":
                    await finish(_result(shard, run, state))
    return [finished[job.index] for job in jobs]


def _age(timestamp: datetime | None) -> float:
    return 0.0 if timestamp is None else (datetime.now(UTC) - timestamp).total_seconds()


async def _crash_unstarted(client: Any, run_id: UUID) -> str:
    """Mark a run its worker claimed but never started Crashed; its state type afterwards.

    Not forced: if the process started meanwhile (RUNNING), the server refuses, and the run
    is left to its heartbeats. A process that starts even later runs beside the re-run: it
    writes the same files atomically and its own attempt's report, which the parent does
    not read.
    """
    message = (
        f"Pending for over {PENDING_LIMIT:g} s: the worker that took this run is gone "
        "(marked by the parent fan-out)."
    )
    result = await client.set_flow_run_state(run_id, Crashed(message=message))
    return str(result.state.type.value) if result.state is not None else "PENDING"


def _gone_run(shard: _Shard) -> ShardRun:
    """A shard whose run the server no longer has (deleted in the UI, or by retention)."""
    message = f"gone after {len(shard.runs)} run(s): its flow run was deleted"
    return ShardRun(shard.job.index, tuple(shard.runs), "CRASHED", message)


def _result(shard: _Shard, run: FlowRun, state: str) -> ShardRun:
    message = None
    if state != "COMPLETED":
        reason = one_line(run.state.message if run.state else None) or "no message"
        message = f"{state.lower()} after {len(shard.runs)} run(s): {reason}"
    return ShardRun(shard.job.index, tuple(shard.runs), state, message)


async def _start(deployment: str, job: ShardJob, *, attempt: int) -> UUID:
    """One flow run of the shard, returned at once (``timeout=0``); under the parent's run."""
    started: Any = run_deployment(
        name=deployment,
        parameters={**job.parameters, "attempt": attempt},
        timeout=0,
        as_subflow=True,
    )
    # A coroutine in async code on every supported Prefect (sync_compatible before 3.5,
    # async_dispatch since); awaited only when it is one, so either way works.
    run = cast(FlowRun, await started if inspect.isawaitable(started) else started)
    return run.id


async def _give_up_waiting(client: Any, shard: _Shard, waited: float | None) -> ShardRun:
    """Cancel a shard's run that outlived the parent's wait, so it writes nothing later."""
    run_id = shard.runs[-1]
    run = await client.read_flow_run(run_id)
    state = run.state_type.value if run.state_type else "SCHEDULED"
    if state in FINAL_STATES:  # it ended since the last poll: no time left to run it again
        return _result(shard, run, state)
    message = f"not finished within {waited:g} s ({state.lower()} after {len(shard.runs)} run(s))"
    # A run on infrastructure needs its worker to stop it; one still waiting does not.
    cancel = Cancelling if state in ("RUNNING", "PENDING", "CANCELLING") else Cancelled
    await client.set_flow_run_state(run_id, cancel(message=message), force=True)
    return ShardRun(shard.job.index, tuple(shard.runs), state, message)


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except MissingContextError:
        return get_logger("prefect_botpenguin.shard_pool")
