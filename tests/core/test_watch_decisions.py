"""The watch's decisions (``core.watch``), checked without Prefect: plain data in, plain out."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from prefect_botpenguin.core.errors import ChangeDetectionError
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.core.watch import (
    Fetch,
    Verdict,
    WatchOptions,
    decide,
    held_message,
    owe,
)
from prefect_botpenguin.core.watch_state import PendingMessage, target_key

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
NOW = T1 + timedelta(minutes=1)


def segments(*ids: str, name: str = "Seg") -> tuple[Segment, ...]:
    return tuple(Segment.model_validate({"_id": i, "segmentName": f"{name} {i}"}) for i in ids)


@dataclass(frozen=True)
class State:
    segments: tuple[Segment, ...]
    fetched_at: datetime = T0
    source: str | None = "old-block"
    pending: tuple[PendingMessage, ...] = ()
    held_drops: int = 0


def message(change: str, *targets: str) -> PendingMessage:
    return owe([], change, "subject", "body", targets, T0)[0]


def test_module_runs_without_prefect_in_sys_modules() -> None:
    code = (
        "import sys, prefect_botpenguin.core.watch; "
        "print(sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_no_state_records_a_baseline_of_the_fetch() -> None:
    fetch = Fetch(segments("a", "b"), T1)
    decision = decide(None, fetch, WatchOptions(source="blk"), NOW)
    assert decision.verdict is Verdict.BASELINE
    assert decision.diff is None
    assert decision.next_state is not None
    assert decision.next_state.segments == fetch.segments
    assert (decision.next_state.fetched_at, decision.next_state.source) == (T1, "blk")


def test_a_baseline_with_a_duplicate_id_is_refused() -> None:
    with pytest.raises(ChangeDetectionError):
        decide(None, Fetch(segments("a", "a"), T1), WatchOptions(), NOW)


def test_reset_state_ignores_the_previous_state_and_its_outbox() -> None:
    previous = State(segments("a"), pending=(message("c1", "json://x"),))
    decision = decide(previous, Fetch(segments("b"), T1), WatchOptions(reset_state=True), NOW)
    assert decision.verdict is Verdict.BASELINE
    assert decision.pending == ()


def test_a_fetch_older_than_the_snapshot_is_stale_and_saves_nothing() -> None:
    previous = State(segments("a"), fetched_at=T1, pending=(message("c1", "json://x"),))
    decision = decide(previous, Fetch(segments("b"), T0), WatchOptions(), NOW)
    assert decision.verdict is Verdict.STALE
    assert decision.next_state is None
    assert len(decision.pending) == 1


def test_a_snapshot_from_a_clock_ahead_of_this_machine_is_still_compared() -> None:
    future = NOW + timedelta(hours=2)
    decision = decide(
        State(segments("a"), fetched_at=future), Fetch(segments("a", "b"), T1), WatchOptions(), NOW
    )
    assert decision.verdict is Verdict.COMPARED
    assert decision.diff is not None
    assert [c.id for c in decision.diff.created] == ["b"]


def test_a_suspicious_drop_is_held_and_the_previous_snapshot_kept() -> None:
    previous = State(segments("a", "b", "c", "d"))
    decision = decide(previous, Fetch(segments("a"), T1), WatchOptions(), NOW)
    assert decision.verdict is Verdict.HELD
    assert decision.diff is None
    assert decision.held is not None
    assert (decision.held.lost, decision.held.held_runs, decision.held.runs_left) == (3, 1, 1)
    assert decision.next_state is not None
    assert decision.next_state.segments == previous.segments
    assert decision.next_state.fetched_at == T0
    assert decision.next_state.source == "old-block"
    assert decision.next_state.held_drops == 1
    subject, body = held_message("acme", decision.held)
    assert "1 of 4" in subject
    assert "3 missing" in body


def test_a_drop_seen_enough_runs_in_a_row_is_accepted_as_removals() -> None:
    previous = State(segments("a", "b", "c", "d"), held_drops=1)
    decision = decide(previous, Fetch(segments("a"), T1), WatchOptions(), NOW)
    assert decision.verdict is Verdict.COMPARED
    assert decision.held is not None
    assert decision.held.held_runs == 2
    assert decision.diff is not None
    assert sorted(c.id for c in decision.diff.removed) == ["b", "c", "d"]
    assert decision.next_state is not None
    assert decision.next_state.held_drops == 0


def test_accept_drop_trusts_the_fetch_at_once() -> None:
    previous = State(segments("a", "b"))
    decision = decide(previous, Fetch((), T1), WatchOptions(accept_drop=True), NOW)
    assert decision.verdict is Verdict.COMPARED
    assert decision.held is None
    assert decision.diff is not None
    assert len(decision.diff.removed) == 2


def test_a_small_loss_is_not_a_suspicious_drop() -> None:
    previous = State(segments("a", "b", "c"))
    decision = decide(previous, Fetch(segments("a", "b"), T1), WatchOptions(), NOW)
    assert decision.verdict is Verdict.COMPARED
    assert decision.held is None


def test_drop_pending_empties_the_outbox_and_names_what_it_dropped() -> None:
    previous = State(segments("a"), pending=(message("c1", "json://x"), message("c2", "json://x")))
    decision = decide(previous, Fetch(segments("a"), T1), WatchOptions(drop_pending=True), NOW)
    assert decision.pending == ()
    assert decision.dropped == ("c1", "c2")


def test_the_outbox_owes_a_change_once_to_every_target() -> None:
    outbox = owe([], "c1", "s", "b", ["json://x", "json://y"], T1)
    assert len(outbox) == 1
    assert set(outbox[0].owed) == {target_key("json://x"), target_key("json://y")}
    assert outbox[0].body.endswith("Change id: c1")
    assert owe(outbox, "c1", "s", "b", ["json://x"], T1) == outbox
    assert owe(outbox, None, "s", "b", ["json://x"], T1) == outbox
    assert owe([], "c2", "s", "b", [], T1) == []


def test_the_outbox_keeps_target_urls_out() -> None:
    outbox = owe([], "c1", "s", "b", ["json://user:SECRET@host/path"], T1)
    assert "SECRET" not in outbox[0].model_dump_json()
