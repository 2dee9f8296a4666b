"""Size history: points, retention, storage beside the snapshot, and the issue's scenario."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_botpenguin.core.change_kinds import ChangeKindRules, classify_diff
from prefect_botpenguin.core.diff import diff_segments
from prefect_botpenguin.core.errors import ConfigurationError, SnapshotError
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.core.schema_drift import schema_of
from prefect_botpenguin.core.size_history import (
    RetentionPolicy,
    SizeHistory,
    SizePoint,
    append_sizes,
    compact,
    compact_points,
    history_location,
    load_retention_policy,
    merge_member_sizes,
    read_history,
    sizes_from_members,
    sizes_from_segments,
    write_history,
)
from prefect_botpenguin.core.thresholds import SizeThreshold

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def seg(segment_id: str, name: str, **fields: object) -> Segment:
    return Segment.from_api({"_id": segment_id, "segmentName": name, **fields})


def test_sizes_come_from_the_first_count_field_or_are_none():
    segments = [
        seg("a", "A", contactCount=5),
        seg("b", "B", totalContacts=7, contactsCount=3),
        seg("c", "C"),
    ]
    assert sizes_from_segments(segments) == {"a": 5, "b": 3, "c": None}
    extra = ChangeKindRules.with_extras(size=["members"])
    assert sizes_from_segments([seg("c", "C", members=9)], extra) == {"c": 9}


def test_member_counts_fill_only_the_sizes_the_api_did_not_send():
    sizes, sources = merge_member_sizes({"a": 5, "b": None}, sizes_from_members({"a": 6, "b": 4}))
    assert sizes == {"a": 5, "b": 4}
    assert sources == {"a": "api", "b": "members"}
    with pytest.raises(ValueError, match="negative"):
        sizes_from_members({"a": -1})


def test_append_adds_known_sizes_only_and_never_rewrites_the_past():
    history = append_sizes(SizeHistory(account="acme"), {"a": 1, "b": None}, T0, names={"a": "A"})
    assert history.sizes("a") == [1]
    assert history.sizes("b") == []
    replay = append_sizes(history, {"a": 99}, T0)
    assert replay.sizes("a") == [1]  # the same run replayed adds nothing
    later = append_sizes(replay, {"a": 2}, T0 + timedelta(hours=1), source="members")
    assert later.points["a"][-1] == SizePoint(at=T0 + timedelta(hours=1), size=2, source="members")
    assert later.last_size("a") == 2
    assert later.names == {"a": "A"}


def test_compaction_keeps_raw_recent_points_one_per_old_day_and_drops_the_oldest():
    policy = RetentionPolicy(raw_days=30, keep_days=400)
    now = T0 + timedelta(days=500)
    points = [
        SizePoint(at=now - timedelta(days=450), size=1),  # past keep_days: dropped
        SizePoint(at=now - timedelta(days=100, hours=5), size=2),
        SizePoint(at=now - timedelta(days=100, hours=1), size=3),  # newest of its day: kept
        SizePoint(at=now - timedelta(days=2, hours=5), size=4),
        SizePoint(at=now - timedelta(days=2, hours=1), size=5),  # recent: both kept
    ]
    assert [p.size for p in compact_points(points, now, policy)] == [3, 4, 5]


def test_a_segment_with_no_point_left_is_forgotten():
    history = append_sizes(SizeHistory(account="acme"), {"gone": 1}, T0, names={"gone": "G"})
    compacted = compact(history, T0 + timedelta(days=1000), RetentionPolicy())
    assert compacted.points == {}
    assert compacted.names == {}


def test_retention_comes_from_botpenguin_settings(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BOTPENGUIN_HISTORY_RAW_DAYS", "7")
    monkeypatch.setenv("BOTPENGUIN_HISTORY_KEEP_DAYS", "90")
    assert load_retention_policy() == RetentionPolicy(raw_days=7, keep_days=90)
    monkeypatch.setenv("BOTPENGUIN_HISTORY_KEEP_DAYS", "0")
    with pytest.raises(ConfigurationError, match="BOTPENGUIN_HISTORY_KEEP_DAYS") as caught:
        load_retention_policy()
    assert "\n" not in str(caught.value)


times = st.lists(st.integers(0, 800 * 24), min_size=1, max_size=200)  # hours after T0


@given(times, st.integers(0, 60), st.integers(1, 500))
def test_compaction_is_bounded_and_keeps_the_newest_point_of_each_day(hours, raw, keep):
    policy = RetentionPolicy(raw_days=raw, keep_days=keep)
    now = T0 + timedelta(hours=max(hours))
    points = [SizePoint(at=T0 + timedelta(hours=h), size=h) for h in sorted(set(hours))]
    kept = compact_points(points, now, policy)
    old = [p for p in kept if p.at < now - timedelta(days=raw)]
    assert len({p.at.date() for p in old}) == len(old)  # one per day before raw_days
    assert len(old) <= keep + 1
    assert all(p.at >= now - timedelta(days=keep) for p in kept)
    assert [p.at for p in kept] == sorted(p.at for p in kept)
    raw_since = now - timedelta(days=raw)
    for point in old:  # the newest point of its day (among those past raw_days) is kept
        day = [p.at for p in points if p.at.date() == point.at.date() and p.at < raw_since]
        assert point.at == max(day)
    assert compact_points(kept, now, policy) == kept  # compacting twice changes nothing


def test_history_sits_beside_the_snapshot():
    assert history_location("state/", "Larkspur Tea") == "state/larkspur-tea.history.json"


@pytest.mark.parametrize("kind", ["path", "file-url", "memory"])
def test_history_round_trips_on_every_storage_the_state_supports(kind: str, tmp_path: Path):
    state = {
        "path": str(tmp_path / "state"),
        "file-url": (tmp_path / "state").as_uri(),
        "memory": f"memory://history-{uuid.uuid4().hex}",
    }[kind]
    location = history_location(state, "acme")
    assert read_history(location) is None
    history = append_sizes(SizeHistory(account="acme"), {"a": 3}, T0, names={"a": "Ä|*"})
    history = history.with_schema(schema_of([seg("a", "Ä|*", contactCount=3)]))
    write_history(history, location)
    loaded = read_history(location)
    assert loaded == history
    assert loaded is not None
    assert loaded.last_schema == schema_of([seg("a", "x", contactCount=1)])


def test_a_damaged_history_is_one_line_naming_the_way_out(tmp_path: Path):
    location = str(tmp_path / "acme.history.json")
    Path(location).write_bytes(b'{"format": "prefect-botpenguin/segment-size-hist')
    with pytest.raises(SnapshotError, match="move it aside") as caught:
        read_history(location)
    assert "\n" not in str(caught.value)
    Path(location).write_text(
        '{"format": "prefect-botpenguin/segment-size-history", "version": 1, "account": "a",'
        ' "points": {"s": [{"at": "2026-12-01T00:00:00Z", "size": -4}]}}'
    )
    with pytest.raises(SnapshotError, match="corrupted"):
        read_history(location)


def test_a_failed_write_leaves_the_previous_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    location = str(tmp_path / "acme.history.json")
    write_history(append_sizes(SizeHistory(account="acme"), {"a": 1}, T0), location)
    before = Path(location).read_bytes()

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", disk_full)  # the disk fails, not the code under test
    with pytest.raises(SnapshotError, match="previous history is unchanged"):
        write_history(append_sizes(SizeHistory(account="acme"), {"a": 2}, T0), location)
    monkeypatch.undo()
    assert Path(location).read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["acme.history.json"]  # no temp left


def test_the_issue_scenario_sends_two_messages_and_keeps_five_points_per_segment():
    """Baseline, two +1% drifts with ticking timestamps, a -60% swing, a rename."""
    names = {"a": "VIP", "b": "Leads"}
    sizes = {"a": 1000, "b": 100}

    def fetch(run: int) -> list[Segment]:
        return [
            seg(sid, names[sid], contactCount=sizes[sid], updatedAt=f"2026-12-0{run + 1}")
            for sid in ("a", "b")
        ]

    history, previous, messages = SizeHistory(account="acme"), None, []
    for run in range(5):
        if run in (1, 2):
            sizes = {sid: round(size * 1.01) for sid, size in sizes.items()}
        if run == 3:
            sizes = {**sizes, "b": round(sizes["b"] * 0.4)}
        if run == 4:
            names = {**names, "a": "VIP customers"}
        segments = fetch(run)
        if previous is not None:
            diff = diff_segments(previous, segments)
            result = classify_diff(diff, ChangeKindRules(), SizeThreshold())
            if result.notifies:
                messages.append(run)
        history = append_sizes(history, sizes_from_segments(segments), T0 + timedelta(hours=run))
        previous = segments
    assert messages == [3, 4]
    assert [len(history.points[sid]) for sid in ("a", "b")] == [5, 5]
