"""Schema drift: fields that appear, vanish or change type, named once (no values)."""

from __future__ import annotations

import pytest

from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.core.schema_drift import (
    MIXED,
    SchemaDrift,
    SegmentSchema,
    schema_drift,
    schema_of,
)


def seg(segment_id: str, **fields: object) -> Segment:
    return Segment.from_api({"_id": segment_id, "segmentName": f"n{segment_id}", **fields})


def test_the_schema_holds_fields_every_segment_has_with_their_json_type():
    schema = schema_of(
        [
            seg("a", contactCount=3, tags=["x"], note=None, only_here=True),
            seg("b", contactCount=4, tags=[], note="hi"),
        ]
    )
    assert schema == SegmentSchema(
        {
            "_id": "string",
            "segmentName": "string",
            "contactCount": "integer",
            "tags": "array",
            "note": "string",
        }
    )


def test_types_that_differ_between_segments_are_mixed():
    schema = schema_of([seg("a", v=1), seg("b", v=1.5), seg("c", v=None)])
    assert schema is not None
    assert schema.fields["v"] == MIXED
    assert schema_of([seg("a", v=None)]).fields["v"] == "null"  # type: ignore[union-attr]


def test_a_field_appearing_disappearing_or_retyped_is_named_without_values():
    before = schema_of([seg("a", count=1, old="secret-value")])
    after = schema_of([seg("a", count="1", new={"k": "secret-value"})])
    drift = schema_drift(before, after)
    assert drift == SchemaDrift(appeared=("new",), disappeared=("old",), retyped=("count",))
    assert "secret-value" not in str(drift.to_dict())


def test_drift_is_reported_once_when_the_stored_schema_is_updated():
    first = schema_of([seg("a", count=1)])
    second = schema_of([seg("a", count=1, extra=1)])
    assert schema_drift(first, second)
    stored = SegmentSchema.from_dict(second.to_dict())  # type: ignore[union-attr]
    assert not schema_drift(stored, schema_of([seg("a", count=2, extra=5)]))


def test_no_drift_on_a_first_run_an_empty_fetch_or_a_field_leaving_null():
    schema = schema_of([seg("a", x=None)])
    assert not schema_drift(None, schema)
    assert not schema_drift(schema, schema_of([]))
    assert schema_of([]) is None
    assert not schema_drift(schema, schema_of([seg("a", x="filled")]))


def test_a_field_missing_from_one_segment_disappears_from_the_schema():
    before = schema_of([seg("a", f=1), seg("b", f=2)])
    after = schema_of([seg("a", f=1), seg("b")])
    assert schema_drift(before, after).disappeared == ("f",)


def test_stored_form_round_trips():
    schema = SegmentSchema({"a": "string"})
    assert SegmentSchema.from_dict(schema.to_dict()) == schema


@pytest.mark.parametrize("bad", [{}, {"fields": []}, {"fields": {"a": 1}}])
def test_a_stored_form_that_is_not_a_schema_is_refused(bad):
    with pytest.raises(ValueError, match="field name -> type name"):
        SegmentSchema.from_dict(bad)
