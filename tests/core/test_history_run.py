"""``record_run``: one accepted run's sizes, resizes, schema drift and next history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect_botpenguin.core.change_kinds import ChangeKindRules, classify_diff
from prefect_botpenguin.core.diff import diff_segments
from prefect_botpenguin.core.history_run import record_run
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.core.size_history import RetentionPolicy
from prefect_botpenguin.core.thresholds import Resize, SizeThreshold

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
RULES, THRESHOLD, POLICY = ChangeKindRules(), SizeThreshold(), RetentionPolicy()


def seg(segment_id: str, name: str, **fields: object) -> Segment:
    return Segment.from_api({"_id": segment_id, "segmentName": name, **fields})


def run(history, segments, hour, member_counts=None):
    return record_run(
        history,
        "acme",
        segments,
        T0 + timedelta(hours=hour),
        rules=RULES,
        threshold=THRESHOLD,
        policy=POLICY,
        member_counts=member_counts,
    )


def test_the_issue_scenario_two_messages_five_points_per_segment():
    """Baseline, two +1% drifts with ticking timestamps, one audience at -60%, a rename."""
    sizes, names = {"a": 1000, "b": 100}, {"a": "VIP", "b": "Leads"}
    history, previous, announced = None, None, []
    for hour in range(5):
        if hour in (1, 2):
            sizes = {sid: round(size * 1.01) for sid, size in sizes.items()}
        if hour == 3:
            sizes = {**sizes, "b": round(sizes["b"] * 0.4)}
        if hour == 4:
            names = {**names, "a": "VIP customers"}
        segments = [
            seg(sid, names[sid], contactCount=sizes[sid], updatedAt=f"2026-12-0{hour + 1}")
            for sid in ("a", "b")
        ]
        step = run(history, segments, hour)
        if previous is not None:
            result = classify_diff(diff_segments(previous, segments), RULES, THRESHOLD)
            assert {c.change.id for c in result.resized} == set(step.resizes)  # one rule
            if result.notifies or step.drift:
                announced.append((hour, dict(step.resizes)))
        history, previous = step.history, segments
    assert announced == [(3, {"b": Resize(before=102, after=41, percent=-59.8)}), (4, {})]
    assert history is not None
    assert [len(history.points[sid]) for sid in ("a", "b")] == [5, 5]
    assert history.names["a"] == "VIP customers"


def test_member_counts_feed_segments_without_a_count_and_can_resize():
    first = run(None, [seg("m", "M")], 0, member_counts={"m": 50})
    assert first.sizes == {"m": 50}
    assert first.history.points["m"][0].source == "members"
    second = run(first.history, [seg("m", "M")], 1, member_counts={"m": 20})
    assert second.resizes == {"m": Resize(50, 20, -60.0)}
    assert run(second.history, [seg("m", "M")], 2).sizes == {"m": None}  # no count: no point


def test_schema_drift_is_announced_on_one_run_only():
    step = run(None, [seg("a", "A", contactCount=1)], 0)
    assert not step.drift  # a first run is a baseline
    step = run(step.history, [seg("a", "A", contactCount=1, channel="web")], 1)
    assert step.drift.appeared == ("channel",)
    step = run(step.history, [seg("a", "A", contactCount=1, channel="app")], 2)
    assert not step.drift


def test_a_classified_change_carries_its_kinds_and_resize():
    diff = diff_segments([seg("a", "A", contactCount=100)], [seg("a", "B", contactCount=40)])
    (change,) = classify_diff(diff, RULES, THRESHOLD).changes
    payload = change.to_dict()
    assert payload["kinds"] == ["definition", "size"]
    assert payload["resize"] == {"before": 100, "after": 40, "percent": -60.0}
    assert payload["fields"] == ["contactCount", "segmentName"]
