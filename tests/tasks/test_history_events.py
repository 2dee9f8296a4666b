"""Kinds on change events, the resized and schema-changed events, and the run's words.

Pure: event arguments and texts are built from ``core.watch.decide``'s decisions, without a
Prefect server (the flow tests emit them for real).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect_botpenguin.change_summary import changes_markdown
from prefect_botpenguin.changes import change_event_specs
from prefect_botpenguin.core.diff import diff_segments
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.core.schema_drift import SchemaDrift
from prefect_botpenguin.core.size_history import SizeHistory, append_sizes
from prefect_botpenguin.core.thresholds import Resize
from prefect_botpenguin.core.watch import Fetch, Recorded, WatchDecision, WatchOptions, decide
from prefect_botpenguin.history_events import (
    EVENT_RESIZED,
    EVENT_SCHEMA_CHANGED,
    history_event_specs,
)
from prefect_botpenguin.run_summary import describe_run, history_notes

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HOURS = [T0 + timedelta(hours=n) for n in range(6)]


class Saved:
    """What ``decide`` reads of a snapshot."""

    def __init__(self, segments: list[Segment], at: datetime) -> None:
        self.segments, self.fetched_at = tuple(segments), at
        self.source, self.pending, self.held_drops = None, (), 0


def seg(segment_id: str = "a", name: str = "VIP", **fields: Any) -> Segment:
    return Segment.model_validate({"_id": segment_id, "segmentName": name, **fields})


def decision_after(sizes: list[int], last: Segment) -> WatchDecision:
    """The decision of a run fetching ``last`` after runs that recorded ``sizes``."""
    history = SizeHistory(account="Larkspur")
    for at, size in zip(HOURS, sizes, strict=False):
        history = append_sizes(history, {"a": size}, at)
    previous = Saved([seg(contactCount=sizes[-1])], HOURS[len(sizes) - 1])
    fetch = Fetch((last,), HOURS[len(sizes)])
    return decide(previous, fetch, WatchOptions(), HOURS[5], Recorded("Larkspur", history))


def test_change_events_carry_their_kinds_and_whether_they_are_news() -> None:
    before = [seg("a", contactCount=1000, updatedAt="t0"), seg("b", filters=[])]
    after = [seg("a", contactCount=1005, updatedAt="t1"), seg("b", filters=[{"f": 1}])]
    decision = decide(
        Saved(before, T0), Fetch(tuple(after), HOURS[1]), WatchOptions(), HOURS[2], None
    )
    assert decision.diff is not None
    specs = change_event_specs(
        decision.diff, "Larkspur", classified=decision.classified, announced=True
    )
    by_id = {spec["resource"]["prefect.resource.id"][19:]: spec for spec in specs}
    assert by_id["a"]["payload"]["kinds"] == ["size", "bookkeeping"]
    assert by_id["a"]["resource"]["botpenguin.notifies"] == "false"
    assert by_id["a"]["resource"]["botpenguin.kinds"] == "size,bookkeeping"
    assert by_id["b"]["payload"]["kinds"] == ["definition"]
    assert by_id["b"]["resource"]["botpenguin.notifies"] == "true"
    quiet = change_event_specs(decision.diff, "Larkspur", announced=False)
    assert {spec["payload"]["change"] for spec in quiet} == {None}, "no message, no change id"


def test_without_a_decision_any_size_change_is_news_and_bookkeeping_is_not() -> None:
    diff = diff_segments([seg(contactCount=5, updatedAt="t0")], [seg(contactCount=6)])
    (spec,) = change_event_specs(diff, "Larkspur")
    assert spec["resource"]["botpenguin.notifies"] == "true"
    stamps = diff_segments([seg(updatedAt="t0")], [seg(updatedAt="t1")])
    assert change_event_specs(stamps, "Larkspur")[0]["resource"]["botpenguin.notifies"] == "false"


def test_a_resize_is_one_event_with_before_after_percent_and_a_swing_label() -> None:
    specs = history_event_specs(
        "Larkspur",
        resizes={"a": Resize(1313, 525, -60.0)},
        drift=SchemaDrift(),
        names={"a": "São Paulo"},
        change="c-1",
        previous_fetched_at=T0,
    )
    (spec,) = specs
    assert spec["event"] == EVENT_RESIZED
    assert spec["payload"] == {
        "account": "Larkspur",
        "credentials": None,
        "change": "c-1",
        "before": 1313,
        "after": 525,
        "percent": -60.0,
    }
    assert spec["resource"]["botpenguin.swing"] == "060"
    assert spec["resource"]["botpenguin.direction"] == "down"
    assert spec["related"][0]["prefect.resource.id"] == "botpenguin.account.larkspur"
    again = history_event_specs(
        "Larkspur",
        resizes={"a": Resize(1313, 525, -60.0)},
        drift=SchemaDrift(),
        names={},
        change="c-1",
        previous_fetched_at=T0,
    )
    assert again[0]["id"] == spec["id"], "a re-run re-sends the same event"


def test_schema_drift_is_one_event_on_the_account_naming_fields_only() -> None:
    (spec,) = history_event_specs(
        "Larkspur",
        resizes={},
        drift=SchemaDrift(appeared=("tier",), retyped=("contactCount",)),
        names={},
        change=None,
        previous_fetched_at=T0,
    )
    assert spec["event"] == EVENT_SCHEMA_CHANGED
    assert spec["resource"]["prefect.resource.id"] == "botpenguin.account.larkspur"
    assert spec["payload"]["appeared"] == ["tier"]
    assert spec["payload"]["disappeared"] == []
    assert spec["payload"]["retyped"] == ["contactCount"]


def test_a_resize_message_names_the_move_and_the_trend_and_counts_quiet_changes() -> None:
    decision = decision_after([412, 420, 480, 530], seg(contactCount=212))
    assert decision.resizes == {"a": Resize(530, 212, -60.0)}
    message = describe_run(decision, "Larkspur", segment_count=1, history=decision.history)
    assert message.subject == "BotPenguin Larkspur: 1 resized"
    assert '"VIP" [a]: 530 -> 212 (-60%); trend ▅▆▇█▁ 412 → 212 (-48%)' in message.body
    notes = history_notes(decision, decision.history)
    assert notes is not None
    assert "| VIP | `a` | 530 | 212 | -60% | ▅▆▇█▁ 412 → 212 (-48%) |" in notes


def test_a_run_with_only_drift_says_so_and_lists_no_change() -> None:
    decision = decision_after([1000], seg(contactCount=1010, updatedAt="t1"))
    assert not decision.notifies
    message = describe_run(decision, "Larkspur", segment_count=1, history=decision.history)
    assert message.subject == "BotPenguin Larkspur: no notable change"
    assert "Recorded, not announced: 1 segment(s)" in message.body
    assert decision.diff is not None
    markdown = changes_markdown(decision.diff, "Larkspur", segment_count=1)
    assert "| VIP | `contactCount` | `1000` | `1010` | size |" in markdown
    assert '| VIP | `updatedAt` | (absent) | `"t1"` | bookkeeping |' in markdown
