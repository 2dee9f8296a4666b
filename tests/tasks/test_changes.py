"""Diffs, snapshots, change events and change wording, without a Prefect server."""

from __future__ import annotations

import copy
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_botpenguin.change_summary import (
    MESSAGE_LIST_LIMIT,
    changes_artifact_key,
    changes_markdown,
    describe_changes,
)
from prefect_botpenguin.changes import (
    EVENT_CHANGED,
    EVENT_CREATED,
    EVENT_REMOVED,
    change_event_specs,
)
from prefect_botpenguin.core.diff import apply_diff, canonical_json, diff_segments
from prefect_botpenguin.core.errors import ChangeDetectionError, SnapshotError
from prefect_botpenguin.core.membership_diff import MembershipChange
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.credentials import BotPenguinCredentials
from prefect_botpenguin.membership import membership_event_specs
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS
from prefect_botpenguin.snapshots import (
    Snapshot,
    display_location,
    read_snapshot,
    snapshot_location,
    write_snapshot,
)

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
T1 = datetime(2025, 3, 2, 8, 0, tzinfo=UTC)


def segments(records: list[dict[str, Any]]) -> list[Segment]:
    return [Segment.model_validate(record) for record in records]


def by_id(items: list[Segment]) -> dict[str, str]:
    return {s.id: canonical_json(s.to_api_dict()) for s in items}


def changed_sample() -> list[dict[str, Any]]:
    """The sample account a day later: one renamed, one recounted, one gone, one new."""
    records = copy.deepcopy(SAMPLE_SEGMENTS)
    records[0]["segmentName"] = "VIP tea circle"
    records[1]["contactCount"] = 1300
    records[1]["filters"][0]["value"] = "Campinas"
    del records[5]
    records.append(
        {"_id": "6a1c0ffee5a1e0000b0a7e07", "_customer": None, "segmentName": "Winter warmers"}
    )
    return records


# -- diff ------------------------------------------------------------------------------------


def test_diff_names_created_removed_renamed_and_changed_with_values() -> None:
    diff = diff_segments(segments(SAMPLE_SEGMENTS), segments(changed_sample()))

    assert [s.id for s in diff.created] == ["6a1c0ffee5a1e0000b0a7e07"]
    assert [s.name for s in diff.removed] == ["Lapsed subscribers (2023)"]
    assert [c.id for c in diff.renamed] == ["6a1c0ffee5a1e0000b0a7e01"]
    rename = diff.renamed[0]
    assert (rename.old_name, rename.name) == ("VIP tea club", "VIP tea circle")
    assert rename.fields == ("segmentName",)

    recount = next(c for c in diff.changed if not c.renamed)
    assert recount.fields == ("contactCount", "filters")
    assert (recount.before["contactCount"], recount.after["contactCount"]) == (1287, 1300)
    assert recount.old_name == recount.name == "Clientes de São Paulo"
    assert diff.counts() == {"created": 1, "removed": 1, "renamed": 1, "changed": 2}


def test_identical_fetches_and_reordering_are_not_changes() -> None:
    before = segments(SAMPLE_SEGMENTS)
    assert not diff_segments(before, segments(SAMPLE_SEGMENTS))
    assert not diff_segments(before, list(reversed(before)))


@pytest.mark.parametrize(
    ("old", "new"), [(1, 1.0), (1, True), (0, False), (None, 0), ("1", 1), ([1, 2], [2, 1])]
)
def test_values_compare_as_json_so_type_changes_count(old: Any, new: Any) -> None:
    base = {"_id": "a" * 24, "segmentName": "S", "value": old}
    diff = diff_segments(segments([base]), segments([{**base, "value": new}]))
    assert [c.fields for c in diff.changed] == [("value",)]


def test_key_order_inside_nested_objects_is_not_a_change() -> None:
    old = {"_id": "a" * 24, "stats": {"a": 1, "b": {"c": 2, "d": 3}}}
    new = {"_id": "a" * 24, "stats": {"b": {"d": 3, "c": 2}, "a": 1}}
    assert not diff_segments(segments([old]), segments([new]))


def test_gaining_or_losing_a_field_differs_from_becoming_null() -> None:
    plain = {"_id": "a" * 24, "segmentName": "S"}
    gained = diff_segments(segments([plain]), segments([{**plain, "archived": None}]))
    (change,) = gained.changed
    assert "archived" not in change.before
    assert change.after == {"archived": None}

    lost = diff_segments(segments([{**plain, "archived": None}]), segments([plain]))
    (change,) = lost.changed
    assert change.before == {"archived": None}
    assert "archived" not in change.after


def test_duplicate_segment_ids_cannot_be_diffed() -> None:
    twice = segments([{"_id": "a" * 24}, {"_id": "a" * 24, "segmentName": "again"}])
    with pytest.raises(ChangeDetectionError, match="appears twice in the new segments"):
        diff_segments([], twice)


def test_apply_diff_refuses_a_base_the_diff_was_not_made_from() -> None:
    diff = diff_segments(segments(SAMPLE_SEGMENTS), segments(changed_sample()))
    with pytest.raises(ChangeDetectionError, match="removes segment"):
        apply_diff([], diff)


json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
field_names = st.sampled_from(["contactCount", "description", "filters", "isActive", "x", "y"])
segment_ids = st.sampled_from([f"{n:024x}" for n in range(8)])


@st.composite
def accounts(draw: st.DrawFn) -> list[Segment]:
    ids = draw(st.lists(segment_ids, unique=True, max_size=8))
    records = []
    for segment_id in ids:
        record: dict[str, Any] = {"_id": segment_id}
        if draw(st.booleans()):
            record["segmentName"] = draw(st.sampled_from(["A", "B", "Café ☕", 'a,"b"\nc']))
        if draw(st.booleans()):
            record["_customer"] = draw(st.sampled_from(["c1", "c2"]))
        record.update(draw(st.dictionaries(field_names, json_values, max_size=4)))
        records.append(record)
    return segments(records)


@settings(max_examples=300, deadline=None)
@given(before=accounts(), after=accounts())
def test_applying_the_diff_of_a_and_b_to_a_gives_b(
    before: list[Segment], after: list[Segment]
) -> None:
    diff = diff_segments(before, after)
    assert by_id(apply_diff(before, diff)) == by_id(after)
    assert bool(diff) == (by_id(before) != by_id(after))
    assert diff.count == len(set(by_id(before).items()) ^ set(by_id(after).items())) - len(
        diff.changed
    )


@given(account=accounts())
def test_an_account_compared_with_itself_has_no_changes(account: list[Segment]) -> None:
    assert not diff_segments(account, list(account))


# -- snapshots -------------------------------------------------------------------------------


def snapshot_of(records: list[dict[str, Any]], at: datetime = T0) -> Snapshot:
    return Snapshot(
        account="Larkspur", fetched_at=at, source="https://api", segments=segments(records)
    )


def test_snapshot_round_trips_every_field_through_a_local_file(tmp_path: Path) -> None:
    location = snapshot_location(str(tmp_path / "state"), "Larkspur Tea Co.")
    assert location.endswith("/state/larkspur-tea-co.json")
    assert read_snapshot(location) is None, "no snapshot yet: a first run"

    write_snapshot(snapshot_of(SAMPLE_SEGMENTS), location)
    loaded = read_snapshot(location)
    assert loaded is not None
    assert [s.to_api_dict() for s in loaded.segments] == SAMPLE_SEGMENTS
    assert (loaded.account, loaded.fetched_at, loaded.source) == ("Larkspur", T0, "https://api")
    document = json.loads(Path(location).read_text(encoding="utf-8"))
    assert document["segment_count"] == len(SAMPLE_SEGMENTS)
    assert document["segments"] == SAMPLE_SEGMENTS


@pytest.mark.parametrize("fail_at", ["fsync", "replace"])
def test_a_write_failing_midway_leaves_the_previous_snapshot_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    location = str(tmp_path / "larkspur.json")
    write_snapshot(snapshot_of(SAMPLE_SEGMENTS), location)
    previous = Path(location).read_bytes()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, fail_at, broken)
    with pytest.raises(
        SnapshotError, match=r"No space left on device.*previous snapshot is unchanged"
    ):
        write_snapshot(snapshot_of(changed_sample(), at=T1), location)
    monkeypatch.undo()

    assert Path(location).read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["larkspur.json"], "no temp file left"


def test_snapshot_in_fsspec_memory_round_trips_without_temporary_objects() -> None:
    state = f"memory://botpenguin-{uuid.uuid4().hex}/state"
    location = snapshot_location(state, "larkspur")
    write_snapshot(snapshot_of(SAMPLE_SEGMENTS), location)
    write_snapshot(snapshot_of(changed_sample(), at=T1), location)

    loaded = read_snapshot(location)
    assert loaded is not None
    assert loaded.fetched_at == T1
    assert [s.to_api_dict() for s in loaded.segments] == changed_sample()
    fs = fsspec.filesystem("memory")
    assert [p.rsplit("/", 1)[-1] for p in fs.ls(state.removeprefix("memory://"), detail=False)] == [
        "larkspur.json"
    ]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "not valid UTF-8 JSON"),
        (b'{"format": "something-else"}', "is not a prefect-botpenguin snapshot"),
        (
            b'{"format": "prefect-botpenguin/segments-snapshot", "version": 1, "account": "a",'
            b' "fetched_at": "2025-01-01T00:00:00Z", "segments": [{"segmentName": "no id"}]}',
            "is corrupted \\(invalid segments.0\\)",
        ),
    ],
)
def test_an_unreadable_snapshot_is_an_error_not_a_new_baseline(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    location = tmp_path / "larkspur.json"
    location.write_bytes(content)
    with pytest.raises(SnapshotError, match=problem) as raised:
        read_snapshot(str(location))
    assert "--reset-state" in str(raised.value)
    assert "move the file aside" in str(raised.value)


def test_a_snapshot_file_with_a_lone_surrogate_or_nan_reads_by_the_client_rule(
    tmp_path: Path,
) -> None:
    # A file another tool wrote with Python's json module (which emits both) stays usable.
    location = tmp_path / "larkspur.json"
    location.write_bytes(
        b'{"format": "prefect-botpenguin/segments-snapshot", "version": 1, "account": "a",'
        b' "fetched_at": "2025-01-01T00:00:00Z",'
        b' "segments": [{"_id": "a1", "segmentName": "Fans \\ud83d", "score": NaN}]}'
    )

    snapshot = read_snapshot(str(location))

    assert snapshot is not None
    assert snapshot.segments[0].to_api_dict() == {
        "_id": "a1",
        "segmentName": "Fans \ufffd",
        "score": None,
    }
    write_snapshot(snapshot, str(location))  # and it can be saved again
    assert read_snapshot(str(location)) == snapshot


def test_state_locations_are_shown_without_credentials() -> None:
    assert display_location("ftp://user:pw@host/dir/a.json") == "ftp://host/dir/a.json"
    assert display_location("/var/lib/botpenguin/a.json") == "/var/lib/botpenguin/a.json"


# -- events ----------------------------------------------------------------------------------


def test_each_change_is_one_event_on_the_segment_with_the_account_related() -> None:
    diff = diff_segments(segments(SAMPLE_SEGMENTS), segments(changed_sample()))
    specs = change_event_specs(diff, "Larkspur Tea Co.", previous_fetched_at=T0, fetched_at=T1)

    assert [s["event"] for s in specs] == [
        EVENT_CREATED,
        EVENT_REMOVED,
        EVENT_CHANGED,
        EVENT_CHANGED,
    ]
    for spec in specs:
        assert spec["occurred"] == T1
        assert spec["related"] == [
            {
                "prefect.resource.id": "botpenguin.account.larkspur-tea-co",
                "prefect.resource.role": "account",
                "prefect.resource.name": "Larkspur Tea Co.",
            }
        ]
        assert spec["resource"]["prefect.resource.id"].startswith("botpenguin.segment.")
        assert spec["payload"]["account"] == "Larkspur Tea Co."

    created, removed, renamed, recounted = specs
    assert created["resource"]["prefect.resource.name"] == "Winter warmers"
    assert created["payload"]["before"] is None
    assert created["payload"]["after"]["_id"] == "6a1c0ffee5a1e0000b0a7e07"
    assert removed["payload"]["before"] == SAMPLE_SEGMENTS[5]
    assert removed["payload"]["after"] is None
    assert renamed["resource"]["botpenguin.renamed"] == "true"
    assert renamed["payload"]["renamed"] is True
    assert renamed["payload"]["before"] == {"segmentName": "VIP tea club"}
    assert renamed["payload"]["after"] == {"segmentName": "VIP tea circle"}
    assert recounted["resource"]["botpenguin.changed-fields"] == "contactCount,filters"
    assert recounted["payload"]["before"]["contactCount"] == 1287
    assert recounted["payload"]["after"]["contactCount"] == 1300
    json.dumps([s["payload"] for s in specs])  # payloads are JSON data


def test_event_ids_repeat_for_a_rerun_of_the_same_change_only() -> None:
    diff = diff_segments(segments(SAMPLE_SEGMENTS), segments(changed_sample()))
    first = [s["id"] for s in change_event_specs(diff, "a", previous_fetched_at=T0)]
    rerun = [s["id"] for s in change_event_specs(diff, "a", previous_fetched_at=T0)]
    later = [s["id"] for s in change_event_specs(diff, "a", previous_fetched_at=T1)]
    assert first == rerun
    assert len(set(first)) == len(first)
    assert not set(first) & set(later)
    unanchored = [change_event_specs(diff, "a")[0]["id"] for _ in range(2)]
    assert unanchored[0] != unanchored[1], "without a snapshot, a repeat is a new event"


def named_block(name: str, token: str) -> BotPenguinCredentials:
    """A credentials block as loaded from the server under ``name`` (no server here)."""
    block = BotPenguinCredentials(api_token=token)
    block._block_document_name = name
    block._is_anonymous = False
    return block


def test_events_refer_to_the_credentials_block_by_name_never_by_token() -> None:
    """A triggered export must read the account the watch read: the payload names the block
    as Prefect stores a block parameter, and is the same on a re-run (so are the ids)."""
    diff = diff_segments(segments(SAMPLE_SEGMENTS), segments(changed_sample()))
    members = [MembershipChange(segment_id="a1", joined=("c1",), left=(), members=5, name="VIP")]
    block = named_block("shop-b", "shop-b-secret-token-1234")
    reference = {"$ref": {"block_document_slug": "botpenguin-credentials/shop-b"}}
    specs = [
        *change_event_specs(diff, "Shop B", previous_fetched_at=T0, credentials=block),
        *membership_event_specs(members, "Shop B", previous_fetched_at=T0, credentials=block),
    ]
    assert [spec["payload"]["credentials"] for spec in specs] == [reference] * 5
    assert "shop-b-secret-token-1234" not in json.dumps([spec["payload"] for spec in specs])
    assert (
        specs[0]["payload"]
        == change_event_specs(diff, "Shop B", previous_fetched_at=T0, credentials=block)[0][
            "payload"
        ]
    ), "a re-run sends the same payload"
    plain = change_event_specs(diff, "Shop B", previous_fetched_at=T0)
    assert [spec["payload"]["credentials"] for spec in plain] == [None] * 4, "settings: null"
    assert [spec["id"] for spec in plain] == [spec["id"] for spec in specs[:4]]
    unsaved = BotPenguinCredentials(api_token="unsaved-secret-token")
    assert change_event_specs(diff, "a", credentials=unsaved)[0]["payload"]["credentials"] is None


# -- words -----------------------------------------------------------------------------------


def test_message_names_every_kind_of_change_with_old_and_new_values() -> None:
    diff = diff_segments(segments(SAMPLE_SEGMENTS), segments(changed_sample()))
    message = describe_changes(diff, "larkspur", segment_count=6, previous_fetched_at=T0)

    assert message.subject == "BotPenguin larkspur: 1 created, 1 removed, 1 renamed, 1 changed"
    assert "since 2025-03-01 08:00:00 UTC" in message.body
    assert '+ "Winter warmers" [6a1c0ffee5a1e0000b0a7e07]' in message.body
    assert '- "Lapsed subscribers (2023)"' in message.body
    assert '~ "VIP tea club" -> "VIP tea circle"' in message.body
    assert "contactCount: 1287 -> 1300" in message.body
    assert '"São Paulo" -> "Campinas"' not in message.body  # nested values print as JSON
    assert '"value":"Campinas"' in message.body


def test_long_lists_are_capped_and_newlines_in_names_flattened() -> None:
    many = [{"_id": f"{n:024x}", "segmentName": f"line one\nline {n}"} for n in range(45)]
    diff = diff_segments([], segments(many))
    body = describe_changes(diff, "a", segment_count=45).body
    assert f"... and {45 - MESSAGE_LIST_LIMIT} more" in body
    assert body.count("\n  + ") == MESSAGE_LIST_LIMIT
    assert '"line one line 0"' in body


def test_baseline_and_no_change_say_so() -> None:
    baseline = describe_changes(None, "larkspur", segment_count=6)
    assert "baseline recorded (6 segments)" in baseline.subject
    assert (
        "no segment changed"
        in describe_changes(
            diff_segments([], []), "larkspur", segment_count=0, previous_fetched_at=T0
        ).body
    )
    assert "**Baseline recorded**: 6 segment(s)" in changes_markdown(
        None, "larkspur", segment_count=6
    )


def test_markdown_summary_has_a_table_per_kind_with_before_and_after() -> None:
    diff = diff_segments(segments(SAMPLE_SEGMENTS), segments(changed_sample()))
    markdown = changes_markdown(
        diff, "larkspur", segment_count=6, previous_fetched_at=T0, fetched_at=T1
    )
    assert changes_artifact_key("Larkspur Tea Co.") == "botpenguin-changes-larkspur-tea-co"
    assert "## Created (1)" in markdown
    assert "## Removed (1)" in markdown
    assert "| VIP tea club | VIP tea circle | `6a1c0ffee5a1e0000b0a7e01` |" in markdown
    assert "| Clientes de São Paulo | `contactCount` | `1287` | `1300` |" in markdown
    pipe_name = "a|b"
    piped = diff_segments([], segments([{"_id": "f" * 24, "segmentName": pipe_name}]))
    assert "a\\|b" in changes_markdown(piped, "x", segment_count=1)
