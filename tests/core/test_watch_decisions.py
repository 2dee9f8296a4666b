"""The watch's decisions (``core.watch``), checked without Prefect: plain data in, plain out."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from prefect_botpenguin.core.change_kinds import ChangeKind
from prefect_botpenguin.core.errors import ChangeDetectionError
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.core.size_history import SizeHistory, append_sizes
from prefect_botpenguin.core.thresholds import Resize, SizeThreshold
from prefect_botpenguin.core.watch import (
    Fetch,
    Recorded,
    Verdict,
    WatchDecision,
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


# -- kinds, thresholds and history (issue 19) -----------------------------------------------


def sized(count: int, *, stamp: str = "t0", name: str = "VIP", **extra: object) -> Segment:
    fields = {"_id": "a", "segmentName": name, "contactCount": count, "updatedAt": stamp}
    return Segment.model_validate({**fields, **extra})


def run(
    before: Segment,
    after: Segment,
    history: SizeHistory | None = None,
    at: datetime = T1,
    **options: object,
) -> WatchDecision:
    recorded = Recorded("acme", history)
    opts = WatchOptions(**options)  # type: ignore[arg-type]
    return decide(State((before,)), Fetch((after,), at), opts, NOW, recorded)


def test_bookkeeping_and_size_drift_below_the_threshold_are_recorded_not_announced() -> None:
    decision = run(sized(1000, stamp="t0"), sized(1010, stamp="t1"))
    assert decision.verdict is Verdict.COMPARED
    assert decision.classified is not None
    (change,) = decision.classified.changes
    assert change.kinds == (ChangeKind.SIZE, ChangeKind.BOOKKEEPING)
    assert not decision.notifies
    assert decision.resizes == {}
    assert decision.history is not None
    assert decision.history.sizes("a") == [1010]


def test_a_definition_change_notifies_and_carries_its_kind() -> None:
    decision = run(sized(1000), sized(1000, filters=[{"field": "city"}]))
    assert decision.classified is not None
    assert decision.classified.changes[0].kinds == (ChangeKind.DEFINITION,)
    assert decision.notifies


def test_a_swing_past_both_thresholds_is_a_resize_from_the_previous_runs_size() -> None:
    history = append_sizes(SizeHistory(account="acme"), {"a": 100}, T0)
    decision = run(sized(100), sized(60), history)
    assert decision.resizes == {"a": Resize(100, 60, -40.0)}, "-40% of 100 notifies"
    assert decision.notifies
    assert decision.history is not None
    assert decision.history.sizes("a") == [100, 60]


def test_a_deployments_threshold_decides_instead_of_the_defaults() -> None:
    loose = SizeThreshold(relative=0.5, absolute=1)
    assert run(sized(1000), sized(1010), threshold=loose).notifies
    strict = SizeThreshold(relative=50, absolute=10)
    assert not run(sized(100), sized(60), threshold=strict).notifies


def test_a_held_or_stale_run_records_no_point_and_announces_no_drift() -> None:
    history = append_sizes(SizeHistory(account="acme"), {"a": 1, "b": 1, "c": 1}, T0)
    previous = State(segments("a", "b", "c"))
    held = decide(
        previous, Fetch(segments("a"), T1), WatchOptions(), NOW, Recorded("acme", history)
    )
    assert held.verdict is Verdict.HELD
    assert (held.history, held.resizes, bool(held.drift)) == (None, {}, False)
    stale = decide(
        State(segments("a"), fetched_at=T1),
        Fetch(segments("a"), T0),
        WatchOptions(),
        NOW,
        Recorded("acme", history),
    )
    assert stale.verdict is Verdict.STALE
    assert stale.history is None


def test_a_baseline_records_the_first_point_and_announces_nothing() -> None:
    decision = decide(None, Fetch((sized(412),), T1), WatchOptions(), NOW, Recorded("acme", None))
    assert decision.verdict is Verdict.BASELINE
    assert not decision.notifies
    assert decision.history is not None
    assert decision.history.sizes("a") == [412]


def test_member_counts_feed_a_segment_without_a_count_and_can_resize() -> None:
    bare = Segment.model_validate({"_id": "a", "segmentName": "VIP"})
    history = append_sizes(SizeHistory(account="acme"), {"a": 100}, T0, "members")
    recorded = Recorded("acme", history, member_counts={"a": 30})
    decision = decide(State((bare,)), Fetch((bare,), T1), WatchOptions(), NOW, recorded)
    assert decision.diff is not None
    assert not decision.diff, "no field changed"
    assert decision.resizes == {"a": Resize(100, 30, -70.0)}
    assert decision.notifies
    assert decision.history is not None
    assert decision.history.points["a"][-1].source == "members"


def test_schema_drift_notifies_on_the_run_that_sees_it_and_never_again() -> None:
    first = run(sized(10), sized(10))
    assert first.history is not None
    assert not first.drift
    assert not run(sized(10), sized(10, stamp=None), first.history).drift, "null is no type"
    retyped = run(sized(10), sized(10, tier="gold"), first.history)
    assert retyped.drift.appeared == ("tier",)
    assert retyped.notifies
    assert retyped.history is not None
    later = T1 + timedelta(minutes=5)
    again = run(sized(10, tier="gold"), sized(10, tier="gold", stamp="t2"), retyped.history, later)
    assert not again.drift
    assert not again.notifies, "a bookkeeping tick after the drift stays quiet"


def test_the_issues_defaults_keep_one_percent_drift_quiet_over_many_runs() -> None:
    history, size, previous = None, 1000, sized(1000)
    for tick in range(20):
        size = round(size * 1.01)
        current = sized(size, stamp=f"t{tick + 1}")
        decision = run(previous, current, history, at=T1 + timedelta(minutes=tick))
        assert not decision.notifies, f"run {tick + 1}: {decision.resizes}"
        history, previous = decision.history, current
    assert history is not None
    assert len(history.sizes("a")) == 20
