"""``segment_size_history`` in real flows, the history export, and the trend helpers."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from prefect import flow

from prefect_botpenguin import SizeHistoryRow, segment_size_history
from prefect_botpenguin.core.errors import ExportError
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.core.size_history import (
    SizeHistory,
    append_sizes,
    history_location,
    sizes_from_segments,
    write_history,
)
from prefect_botpenguin.history import history_rows, write_history_export
from prefect_botpenguin.history_artifacts import (
    NO_TREND,
    trend_cell,
    trend_table,
)

pytestmark = pytest.mark.usefixtures("prefect_harness")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def recorded(state: Path) -> SizeHistory:
    """Three runs of an account: VIP grows, Leads falls, Quiet never had a count."""
    history = SizeHistory(account="larkspur")
    runs = [
        {"vip": 412, "leads": 100, "quiet": None},
        {"vip": 470, "leads": 98},
        {"vip": 530, "leads": 40},
    ]
    for hour, sizes in enumerate(runs):
        history = append_sizes(
            history,
            sizes,
            T0 + timedelta(hours=hour),
            names={"vip": "VIP | *bold*", "leads": "Leads", "quiet": "Quiet"},
        )
    write_history(history, history_location(str(state), "larkspur"))
    return history


def test_the_task_reads_rows_in_a_sync_flow(tmp_path: Path):
    recorded(tmp_path)

    @flow
    def read() -> list[SizeHistoryRow]:
        return segment_size_history("larkspur", state=str(tmp_path))

    rows = read()
    assert [(row.id, row.size) for row in rows] == [
        ("leads", 100),
        ("leads", 98),
        ("leads", 40),
        ("vip", 412),
        ("vip", 470),
        ("vip", 530),
    ]
    assert rows[0].name == "Leads"
    assert rows[0].at == T0
    assert {row.source for row in rows} == {"api"}


async def test_the_task_filters_by_segment_and_time_in_an_async_flow(tmp_path: Path):
    recorded(tmp_path)

    @flow
    async def read() -> list[SizeHistoryRow]:
        return await segment_size_history(
            "larkspur", state=str(tmp_path), segment_ids=["vip"], since=T0 + timedelta(hours=1)
        )

    assert [row.size for row in await read()] == [470, 530]


def test_no_history_yet_is_no_rows(tmp_path: Path):
    @flow
    def read() -> list[SizeHistoryRow]:
        return segment_size_history("nobody", state=str(tmp_path))

    assert read() == []


async def test_rows_export_to_csv_json_and_parquet(tmp_path: Path):
    history = recorded(tmp_path / "state")
    rows = history_rows(history)
    result = await write_history_export(rows, tmp_path / "out" / "history.csv")
    assert result.count == 6
    table = list(csv.DictReader(io.StringIO((tmp_path / "out" / "history.csv").read_text())))
    assert [(r["id"], r["size"]) for r in table][:2] == [("leads", "100"), ("leads", "98")]
    assert table[0]["at"] == "2026-12-01T09:00:00Z"

    await write_history_export(rows, tmp_path / "out" / "history.json")
    loaded = json.loads((tmp_path / "out" / "history.json").read_text())
    assert loaded[-1] == {
        "id": "vip",
        "name": "VIP | *bold*",
        "at": "2026-12-01T11:00:00Z",
        "size": 530,
        "source": "api",
    }

    await write_history_export(rows, tmp_path / "out" / "history.parquet")
    parquet = pq.read_table(tmp_path / "out" / "history.parquet").to_pylist()
    assert [row["size"] for row in parquet] == [100, 98, 40, 412, 470, 530]


async def test_a_failed_history_export_keeps_the_previous_file(tmp_path: Path):
    target = tmp_path / "history.txt"
    target.write_text("previous")
    with pytest.raises(ExportError, match="Cannot tell the export format"):
        await write_history_export([], target)
    assert target.read_text() == "previous"


def test_trend_cell_draws_a_recorded_segment_and_a_dash_otherwise(tmp_path: Path):
    history = recorded(tmp_path)
    assert trend_cell(history, "leads") == "██▁ 100 → 40 (-60%)"
    assert trend_cell(history, "quiet") == NO_TREND == "—"
    assert trend_cell(None, "vip") == "—"


def test_trend_table_lists_the_run_segments_with_this_runs_count_last(tmp_path: Path):
    segments = [
        Segment.model_validate({"_id": "vip", "segmentName": "VIP | *bold*", "contactCount": 600}),
        Segment.model_validate({"_id": "quiet", "segmentName": "Quiet"}),
    ]
    # The watch passes the history its decision holds: the stored one plus this run's sizes.
    run = sizes_from_segments(segments)
    shown = append_sizes(recorded(tmp_path), run, T0 + timedelta(hours=3))
    table = trend_table(shown, segments)
    assert table.startswith("## Size trend\n\n| Segment | ID | Trend |")
    assert "| VIP \\| \\*bold\\* | `vip` | ▁▃▅█ 412 → 600 (+46%) |" in table
    assert "| Quiet | `quiet` | — |" in table
    assert trend_table(None, segments) == ""
    bare = append_sizes(SizeHistory(account="x"), sizes_from_segments(segments[1:]), T0)
    assert trend_table(bare, segments[1:]) == ""
