"""Membership snapshots and their diff: ids only, bounded samples, refused when unreadable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from prefect_botpenguin.core.errors import SnapshotError
from prefect_botpenguin.core.membership_diff import (
    SAMPLE_LIMIT,
    MembershipSnapshot,
    diff_membership,
    membership_location,
    new_membership,
    read_membership,
    write_membership,
)

WHEN = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def test_diff_reports_joined_and_left_per_segment_and_baselines_new_segments() -> None:
    previous = {"s1": ["a", "b"], "s2": ["c"], "gone": ["d"]}
    current = {"s1": ["b", "e"], "s2": ["c"], "new": ["f"]}

    (change,) = diff_membership(previous, current, {"s1": "VIP"})

    assert (change.segment_id, change.joined, change.left, change.members) == (
        "s1",
        ("e",),
        ("a",),
        2,
    )
    assert change.name == "VIP"


def test_event_payload_carries_counts_and_at_most_a_sample_of_ids() -> None:
    ids = [f"id{n:03d}" for n in range(SAMPLE_LIMIT + 5)]
    (change,) = diff_membership({"s": []}, {"s": ids})

    payload = change.payload()

    assert payload["joined"] == SAMPLE_LIMIT + 5
    assert payload["left"] == 0
    assert len(payload["joined_sample"]) == SAMPLE_LIMIT
    assert payload["sampled"] is True


def test_membership_snapshot_round_trips_sorted_and_owner_only(tmp_path: Path) -> None:
    location = membership_location(str(tmp_path), "Larkspur Tea")
    snapshot = new_membership("Larkspur Tea", WHEN, {"s1": ["b", "a"]})

    write_membership(snapshot, location)

    assert location.endswith("larkspur-tea.members.json")
    assert read_membership(location) == snapshot
    assert '"s1": ["a", "b"]' in Path(location).read_text()
    assert Path(location).stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "content",
    [b"not json", b'{"format": "other"}', b'{"format": "prefect-botpenguin/membership-snapshot"}'],
)
def test_an_unreadable_membership_snapshot_is_one_clear_error(
    tmp_path: Path, content: bytes
) -> None:
    location = tmp_path / "x.members.json"
    location.write_bytes(content)

    with pytest.raises(SnapshotError, match="membership"):
        read_membership(str(location))


def test_a_missing_membership_snapshot_is_a_baseline(tmp_path: Path) -> None:
    assert read_membership(str(tmp_path / "none.members.json")) is None
    assert MembershipSnapshot.model_fields.keys() == {"account", "fetched_at", "segments"}
