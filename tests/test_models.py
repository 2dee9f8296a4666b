"""The Segment model keeps every field the API sends and refuses segments without an id."""

from __future__ import annotations

import pytest

from prefect_botpenguin.core.errors import ResponseError
from prefect_botpenguin.core.models import Segment, parse_segments
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS


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
