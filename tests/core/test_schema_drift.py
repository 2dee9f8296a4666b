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
        },
        present=frozenset({"_id", "segmentName", "contactCount", "tags", "note", "only_here"}),
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


def test_a_field_gone_from_every_segment_has_disappeared_one_still_sent_has_not():
    before = schema_of([seg("a", f=1), seg("b", f=2)])
    assert schema_drift(before, schema_of([seg("a"), seg("b")])).disappeared == ("f",)
    assert not schema_drift(before, schema_of([seg("a", f=1), seg("b")]))


def test_a_new_sparse_segment_makes_no_field_look_disappeared():
    full = {"description": "d", "contactCount": 3, "filters": []}
    before = schema_of([seg("a", **full), seg("b", **full)])
    with_new = schema_of([seg("a", **full), seg("b", **full), seg("new")])
    assert not schema_drift(before, with_new)
    assert not schema_drift(with_new, schema_of([seg("a", **full), seg("b", **full)])), (
        "removing the sparse segment again makes nothing appear"
    )


def test_a_field_sent_by_every_segment_for_the_first_time_has_appeared():
    before = schema_of([seg("a"), seg("b")])
    assert schema_drift(before, schema_of([seg("a", tier=1), seg("b", tier=2)])).appeared == (
        "tier",
    )


def test_stored_form_round_trips():
    schema = schema_of([seg("a", x=1), seg("b")])
    assert schema is not None
    assert SegmentSchema.from_dict(schema.to_dict()) == schema
    assert SegmentSchema.from_dict({"fields": {"a": "string"}}).seen == {"a"}, "older files"


@pytest.mark.parametrize(
    "bad", [{}, {"fields": []}, {"fields": {"a": 1}}, {"fields": {}, "present": "a"}]
)
def test_a_stored_form_that_is_not_a_schema_is_refused(bad):
    with pytest.raises(ValueError, match="field name"):
        SegmentSchema.from_dict(bad)
