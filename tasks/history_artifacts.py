"""Size trends for the report's and the watch's artifacts, and for text-only messages.

Prefect's UI (OSS and Cloud) renders table and markdown artifacts but no charts, so a trend
is drawn in Unicode: a sparkline column for the segments table, a markdown section per
segment, and one compact line per segment for email and Slack. Counts only, never contacts.
The artifact modules call these and publish the result; nothing here talks to Prefect.
"""

from __future__ import annotations

from collections.abc import Iterable

from .core.size_history import SizeHistory
from .core.trend import WIDTH, sparkline, trend_text

TREND_COLUMN = "trend"
"""The table artifact's column holding each segment's sparkline."""


def trend_column(history: SizeHistory | None, segment_ids: Iterable[str]) -> dict[str, str]:
    """Segment id -> its sparkline (empty before any size was recorded), for the table."""
    return {
        segment_id: sparkline(history.sizes(segment_id), WIDTH) if history else ""
        for segment_id in segment_ids
    }


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


def _escape(text: str) -> str:
    """Markdown-inert text: a segment name may hold ``*``, ``|``, ``#`` or HTML."""
    return "".join(f"\\{char}" if char in "\\`*_{}[]()#+-.!|<>~" else char for char in text)
