"""The Segment model keeps every field the API sends and refuses segments without an id."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from prefect_botpenguin.core.errors import ResponseError
from prefect_botpenguin.core.fanout import AccountOutcome, FanoutReport
from prefect_botpenguin.core.models import Segment, parse_segments
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS
from prefect_botpenguin.snapshots import Snapshot


def test_documented_fields_are_mapped_and_the_rest_kept() -> None:
    raw = {
        "_id": "c" * 24,
        "_customer": "d" * 24,
        "segmentName": "Nordic ❄ fans",
        "filters": [{"field": "tags", "value": ["a", "b"]}],
        "contactCount": 12,
        "ratio": 0.5,
        "note": None,
    }
    [segment] = parse_segments([raw])
    assert (segment.id, segment.customer_id, segment.name) == ("c" * 24, "d" * 24, "Nordic ❄ fans")
    assert segment.extra == {k: raw[k] for k in ("filters", "contactCount", "ratio", "note")}
    assert segment.to_api_dict() == raw
    assert list(segment.to_record())[:3] == ["id", "name", "customer_id"]


def test_sample_data_round_trips_through_the_model() -> None:
    segments = parse_segments(SAMPLE_SEGMENTS)
    assert [s.to_api_dict() for s in segments] == SAMPLE_SEGMENTS


def test_optional_documented_fields_may_be_missing() -> None:
    [segment] = parse_segments([{"_id": "e" * 24}])
    assert segment.name is None
    assert segment.customer_id is None


def test_unknown_field_named_like_a_record_column_is_not_overwritten() -> None:
    segment = Segment.model_validate({"_id": "f" * 24, "segmentName": "Real", "name": "shadow"})
    record = segment.to_record()
    assert record["name"] == "Real"
    assert record["api.name"] == "shadow"


@pytest.mark.parametrize(
    "item", [{"segmentName": "no id"}, {"_id": ""}, {"_id": 42}, {"_id": None}]
)
def test_segment_without_a_string_id_is_a_response_error(item: dict[str, object]) -> None:
    with pytest.raises(ResponseError, match="_id"):
        parse_segments([item])


ROUND_TRIP_OBJECTS = [
    {"_id": "a" * 24},
    {"_id": "a" * 24, "segmentName": None},
    {"_id": "a" * 24, "name": "an unknown field called name"},
    {"_id": "a" * 24, "segmentName": None, "name": "both, the documented one null"},
    {"_id": "a" * 24, "customer_id": 7, "_customer": "b" * 24, "nested": {"x": [1, None]}},
    *SAMPLE_SEGMENTS,
]


@pytest.mark.parametrize("raw", ROUND_TRIP_OBJECTS)
@pytest.mark.parametrize(
    "build",
    [
        pytest.param(Segment.model_validate, id="model_validate"),
        pytest.param(Segment.from_api, id="from_api"),
        pytest.param(lambda raw: Segment(**raw), id="constructor"),
        pytest.param(lambda raw: Segment.model_validate_json(json.dumps(raw)), id="from-json"),
        pytest.param(lambda raw: parse_segments([raw])[0], id="parse_segments"),
    ],
)
def test_segment_survives_a_json_round_trip_whichever_constructor_built_it(raw, build) -> None:
    segment = build(raw)
    again = Segment.model_validate_json(segment.model_dump_json())

    assert again == segment
    assert again.to_api_dict() == segment.to_api_dict() == raw  # nothing invented, nothing lost
    assert json.loads(segment.model_dump_json()) == raw


def test_models_holding_segments_round_trip_exactly() -> None:
    segments = parse_segments([*SAMPLE_SEGMENTS, {"_id": "e" * 24, "name": "clash"}])
    snapshot = Snapshot(
        account="shop", fetched_at=datetime.now(UTC), source="http://x", segments=segments
    )
    report = FanoutReport(
        outcomes=[AccountOutcome(label="shop", segments=segments)], seconds=1.0, concurrency=2
    )

    for model in (snapshot, report):
        again = type(model).model_validate_json(model.model_dump_json())
        assert again == model
    assert [
        s.to_api_dict() for s in Snapshot.model_validate_json(snapshot.model_dump_json()).segments
    ] == [*SAMPLE_SEGMENTS, {"_id": "e" * 24, "name": "clash"}]


@pytest.mark.parametrize(
    ("item", "field", "got"),
    [
        ({"_id": "a1", "segmentName": 42}, "segmentName", "int"),
        ({"_id": "a1", "_customer": ["c"]}, "_customer", "list"),
    ],
)
def test_a_wrongly_typed_optional_field_is_named_not_blamed_on_the_id(
    item: dict[str, object], field: str, got: str
) -> None:
    with pytest.raises(ResponseError) as raised:
        parse_segments([item])
    message = str(raised.value)
    assert f"'{field}' of type {got}, expected a string or null" in message
    assert "_id" not in message
