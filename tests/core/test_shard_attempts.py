"""The parent's rules for a shard's flow run, and the wait bound it documents."""

from __future__ import annotations

import pytest

from prefect_botpenguin.core.shard_attempts import (
    check_silence,
    decide,
    lost_before_start,
    one_line,
    wait_bound,
)


@pytest.mark.parametrize("state", ["SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"])
def test_a_run_that_is_not_final_is_waited_for(state):
    assert decide(state, attempt=3, attempts=3) == "wait"


def test_a_completed_run_is_done_on_any_attempt():
    assert decide("COMPLETED", 1, 3) == "done"
    assert decide("COMPLETED", 3, 3) == "done"


@pytest.mark.parametrize("state", ["FAILED", "CRASHED"])
def test_a_failed_or_crashed_run_is_run_again_until_the_attempts_are_used(state):
    assert decide(state, 1, 3) == "rerun"
    assert decide(state, 2, 3) == "rerun"
    assert decide(state, 3, 3) == "give_up"
    assert decide(state, 1, 1) == "give_up"


def test_a_cancelled_run_is_not_run_again():
    assert decide("CANCELLED", 1, 3) == "give_up"


def test_the_silence_must_outlast_one_and_a_half_heartbeats():
    check_silence(45)
    with pytest.raises(ValueError, match=r"at least 1\.5 heartbeats"):
        check_silence(44)
    with pytest.raises(ValueError, match="below Prefect's minimum"):
        check_silence(60, heartbeat=10)


def test_the_wait_bound_covers_every_attempt_losing_its_worker():
    # each attempt: pickup 30 + shard 60 + the longer of (last beat 30 + silence 45 +
    # grace 15) and a worker lost before starting it (PENDING_LIMIT 180)
    assert wait_bound(60, attempts=3, silence=45) == 3 * (30 + 60 + 180)
    assert wait_bound(60, attempts=1, silence=300, pickup=0) == 60 + 30 + 300 + 15
    with pytest.raises(ValueError, match="at least one attempt"):
        wait_bound(60, attempts=0, silence=45)


def test_only_a_run_pending_past_the_limit_counts_as_lost_before_it_started():
    assert lost_before_start("PENDING", 181, limit=180)
    assert not lost_before_start("PENDING", 179, limit=180)
    assert not lost_before_start("RUNNING", 10_000, limit=180)
    assert not lost_before_start("SCHEDULED", 10_000, limit=180)


def test_a_state_message_becomes_one_short_line():
    assert one_line("Flow run\n  crashed:\tSIGKILL") == "Flow run crashed: SIGKILL"
    assert one_line(None) == ""
    assert one_line("x" * 400, limit=10) == "x" * 9 + "…"
