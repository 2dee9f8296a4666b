"""What people read in the segments artifacts: nested fields as JSON text, contact counts."""

from __future__ import annotations

import json

from prefect_botpenguin.artifacts import (
    CELL_JSON_LIMIT,
    segment_table_rows,
    segments_summary_markdown,
)
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS

SAMPLE = [Segment.model_validate(record) for record in SAMPLE_SEGMENTS]


def test_nested_fields_are_kept_as_compact_json_text() -> None:
    rows = segment_table_rows(SAMPLE)

    assert [row["id"] for row in rows] == [s["_id"] for s in SAMPLE_SEGMENTS]
    assert all(list(row) == list(rows[0]) for row in rows), "one header for every row"
    assert rows[0]["filters"] == (
        '[{"field":"tags","operator":"contains","value":"vip"},'
        '{"field":"hasOrdered","operator":"equals","value":true}]'
    )
    assert rows[0]["stats"] == '{"averageOrderValue":38.75,"currency":"USD"}'
    assert rows[1]["stats"] is None, "a segment without the field gets an empty cell"
    assert rows[5]["filters"] == "[]"
    # Unicode stays readable, and the text is the value, not a lossy rendering of it.
    assert "café au lait" in rows[2]["filters"]
    for row, record in zip(rows, SAMPLE_SEGMENTS, strict=True):
        assert json.loads(row["filters"]) == record["filters"]
        assert row["contactCount"] == record["contactCount"], "scalars keep their type"


def test_a_very_long_nested_value_is_cut_and_says_so() -> None:
    huge = Segment.model_validate(
        {"_id": "a1", "segmentName": "Huge", "filters": [{"value": "x" * 5_000}]}
    )
    small = Segment.model_validate({"_id": "b2", "segmentName": "Small", "filters": [1, 2]})

    rows = segment_table_rows([huge, small])

    assert len(rows[0]["filters"]) == CELL_JSON_LIMIT
    assert rows[0]["filters"].startswith('[{"value":"xxx')
    assert rows[0]["filters"].endswith("…")
    assert rows[1]["filters"] == "[1,2]"


def test_summary_shows_each_segments_contact_count_when_the_api_sends_it() -> None:
    summary = segments_summary_markdown(SAMPLE, "Larkspur", "http://127.0.0.1:9")

    assert "| Name | Contacts | ID |" in summary
    assert "| VIP tea club | 412 | `6a1c0ffee5a1e0000b0a7e01` |" in summary
    assert "| Clientes de São Paulo | 1,287 | `6a1c0ffee5a1e0000b0a7e02` |" in summary
    assert "| Lapsed subscribers (2023) | 0 | `6a1c0ffee5a1e0000b0a7e06` |" in summary


def test_summary_marks_a_missing_count_and_reads_other_count_names() -> None:
    segments = [
        Segment.model_validate({"_id": "a1", "segmentName": "Counted", "totalContacts": 7}),
        Segment.model_validate({"_id": "b2", "segmentName": "Uncounted"}),
        Segment.model_validate({"_id": "c3", "segmentName": "Odd", "contactCount": "many"}),
    ]

    summary = segments_summary_markdown(segments, "Larkspur", "http://127.0.0.1:9")

    assert "| Counted | 7 | `a1` |" in summary
    assert "| Uncounted | - | `b2` |" in summary
    assert "| Odd | - | `c3` |" in summary, "a count that is not a number is not shown"


def test_summary_without_any_counts_has_no_contacts_column() -> None:
    segments = [Segment.model_validate({"_id": "a1", "segmentName": "Plain"})]

    summary = segments_summary_markdown(segments, "Larkspur", "http://127.0.0.1:9")

    assert "| Name | ID |" in summary
    assert "Contacts" not in summary
    assert "| Plain | `a1` |" in summary
