"""Size trends for the report's and the watch's artifacts, and for text-only messages.

Prefect's UI (OSS and Cloud) renders table and markdown artifacts but no charts, so a trend
is drawn in Unicode: a sparkline column for the segments table, a markdown section per
segment, and one compact line per segment for email and Slack. Counts only, never contacts.
The artifact modules call these and publish the result; nothing here talks to Prefect.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .change_summary import capped_table
from .core.models import Segment
from .core.size_history import SizeHistory
from .core.trend import WIDTH, sparkline, trend_text

TREND_COLUMN = "trend"
"""The table artifact's column holding each segment's sparkline."""
NO_TREND = "—"
"""A trend cell of a segment with no recorded size (no history yet, or the API sent no count)."""
TREND_ROW_LIMIT = 50
"""Most segments the watch's trend table lists; the report's summary has its own limit."""


def trend_column(history: SizeHistory | None, segment_ids: Iterable[str]) -> dict[str, str]:
    """Segment id -> its sparkline (empty before any size was recorded), for the table."""
    return {
        segment_id: sparkline(history.sizes(segment_id), WIDTH) if history else ""
        for segment_id in segment_ids
    }


def trend_cell(history: SizeHistory | None, segment_id: str) -> str:
    """``▁▂▃▅▇ 412 → 530 (+29%)`` for a markdown table cell, or ``NO_TREND`` (—) with no size.

    Plain text, not code: the bars are the chart, drawn by the UI's own font, in Prefect's
    open-source UI and Cloud alike (both render markdown tables, neither renders scripts).
    """
    if history is None or not history.sizes(segment_id):
        return NO_TREND
    return trend_text(history.sizes(segment_id))


def trend_table(history: SizeHistory | None, segments: Sequence[Segment]) -> str:
    """The watch artifact's "Size trend" section: one row per segment with its trend cell.

    Empty when no segment has a recorded size, so an account without counts gets no section.
    """
    if history is None or not any(history.sizes(segment.id) for segment in segments):
        return ""
    head = ["## Size trend", "", "| Segment | ID | Trend |", "|---|---|---|"]

    def row(segment: Segment) -> str:
        name = _cell(segment.name or "(unnamed)")
        return f"| {name} | `{segment.id}` | {trend_cell(history, segment.id)} |"

    lines = capped_table(head, segments, row, TREND_ROW_LIMIT, "`botpenguin history`")
    return "\n".join(lines)


def trend_lines(history: SizeHistory | None, segment_ids: Iterable[str]) -> list[str]:
    """``Name: ▁▂▃▅▇ 412 → 530 (+29%)`` per segment with a recorded size, for text messages."""
    if history is None:
        return []
    return [
        f"{_label(history, segment_id)}: {trend_text(history.sizes(segment_id))}"
        for segment_id in segment_ids
        if history.sizes(segment_id)
    ]


def trend_markdown(history: SizeHistory | None, segment_ids: Iterable[str]) -> str:
    """A markdown section per segment: its trend line and a table of its latest points."""
    if history is None:
        return "## Size trend\n\nNo size recorded yet: the next watch run records the first.\n"
    sections = ["## Size trend"]
    for segment_id in segment_ids:
        points = history.points.get(segment_id, ())
        if not points:
            continue
        rows = "\n".join(
            f"| {point.at.isoformat(timespec='minutes')} | {point.size} | {point.source} |"
            for point in points[-WIDTH:][::-1]
        )
        sections.append(
            f"### {_escape(_label(history, segment_id))}\n\n"
            f"`{trend_text(history.sizes(segment_id))}`\n\n"
            f"| Recorded at | Size | Source |\n|---|---:|---|\n{rows}"
        )
    if len(sections) == 1:
        sections.append("No size recorded for these segments yet.")
    return "\n\n".join(sections) + "\n"


def _label(history: SizeHistory, segment_id: str) -> str:
    name = history.names.get(segment_id)
    return f"{name} ({segment_id})" if name else segment_id


def _cell(text: str) -> str:
    """Keep a segment name inside one markdown table cell, inert (no emphasis, no HTML)."""
    return _escape(" ".join(text.split()))


def _escape(text: str) -> str:
    """Markdown-inert text: a segment name may hold ``*``, ``|``, ``#`` or HTML."""
    return "".join(f"\\{char}" if char in "\\`*_{}[]()#+-.!|<>~" else char for char in text)
