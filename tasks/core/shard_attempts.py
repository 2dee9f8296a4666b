"""What a parent does with a shard's flow run, and how long it may have to wait for one.

Pure decisions, so the rules are stated once and tested without a server: the Prefect layer
(``prefect_botpenguin.shard_pool``) reads run states and performs what these return.

- a COMPLETED run is done;
- a FAILED or CRASHED run (its code failed, or its worker or machine was lost and the
  heartbeat watchdog marked it) is run again, as a new flow run with the same parameters,
  until ``attempts`` runs were made; then the shard is given up and its accounts are failed;
- a CANCELLED run was stopped by someone on purpose: it is not run again;
- a run PENDING longer than ``PENDING_LIMIT`` was taken by a worker that died before its
  process started (nothing of it will ever send a heartbeat): it is marked Crashed, and so
  run again;
- any other state (SCHEDULED, PENDING, RUNNING, PAUSED, CANCELLING) is not final: wait.
"""

from __future__ import annotations

from typing import Literal

FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
RERUN_STATES = frozenset({"FAILED", "CRASHED"})
HEARTBEAT_MINIMUM = 30.0
"""Prefect refuses a flow-run heartbeat frequency below 30 s."""
PENDING_LIMIT = 180.0
"""Seconds a worker may take from claiming a run (PENDING) to starting it (RUNNING): a
process start takes seconds, even on a loaded machine (tens of seconds seen on two cores)."""
TRIGGER_GRACE = 15.0
"""Seconds Prefect's server may take to evaluate a proactive trigger and act on it."""

Decision = Literal["wait", "done", "rerun", "give_up"]


def decide(state: str, attempt: int, attempts: int) -> Decision:
    """What to do with attempt ``attempt`` (from 1) of a shard, whose run is in ``state``."""
    if state not in FINAL_STATES:
        return "wait"
    if state == "COMPLETED":
        return "done"
    if state in RERUN_STATES and attempt < attempts:
        return "rerun"
    return "give_up"


def lost_before_start(state: str, seconds_in_state: float, limit: float = PENDING_LIMIT) -> bool:
    """True for a run claimed by a worker that never started it: PENDING for over ``limit``."""
    return state == "PENDING" and seconds_in_state > limit


def check_silence(silence: float, heartbeat: float = HEARTBEAT_MINIMUM) -> None:
    """Refuse a watchdog silence that a live run could reach between two heartbeats.

    A beat may come up to a second or two late on a loaded machine; a silence of at least
    1.5 beats keeps a healthy run from being marked Crashed.
    """
    if heartbeat < HEARTBEAT_MINIMUM:
        raise ValueError(
            f"a heartbeat every {heartbeat:g} s is below Prefect's minimum of "
            f"{HEARTBEAT_MINIMUM:g} s"
        )
    if silence < 1.5 * heartbeat:
        raise ValueError(
            f"a watchdog silence of {silence:g} s would mark live runs Crashed: use at least "
            f"1.5 heartbeats ({1.5 * heartbeat:g} s)"
        )


def wait_bound(
    shard_seconds: float,
    *,
    attempts: int,
    silence: float,
    heartbeat: float = HEARTBEAT_MINIMUM,
    pickup: float = 30.0,
) -> float:
    """The longest a parent can wait for a shard, in seconds: the bound it should pass on.

    Each attempt may take a worker's ``pickup`` (its poll plus starting a process), the
    shard's own ``shard_seconds``, and, when its worker dies just before finishing, one
    ``heartbeat`` for the last beat, the watchdog's ``silence`` and the server's
    ``TRIGGER_GRACE`` before it is marked Crashed and run again (a worker that dies before
    starting the run costs ``PENDING_LIMIT`` instead, when that is longer).
    """
    if attempts < 1:
        raise ValueError("a shard needs at least one attempt")
    check_silence(silence, heartbeat)
    lost = max(heartbeat + silence + TRIGGER_GRACE, PENDING_LIMIT)
    return attempts * (pickup + shard_seconds + lost)


def one_line(text: str | None, limit: int = 300) -> str:
    """A state message as one line, short enough for a report row."""
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
