"""Size trends for the report's and the watch's artifacts, and for text-only messages.

Prefect's UI (OSS and Cloud) renders table and markdown artifacts but no charts, so a trend
is drawn in Unicode: a trend cell per segment in the report's summary table and the watch's
"Size trend" section (text messages use ``core.trend.trend_text``). Counts only, never contacts.
The artifact modules call these and publish the result; nothing here talks to Prefect.
"""

from __future__ import annotations

from collections.abc import Sequence

from .change_summary import capped_table
from .core.models import Segment
from .core.size_history import SizeHistory
from .core.trend import trend_text

NO_TREND = "—"
"""A trend cell of a segment with no recorded size (no history yet, or the API sent no count)."""
TREND_ROW_LIMIT = 50
"""Most segments the watch's trend table lists; the report's summary has its own limit."""


def trend_cell(history: SizeHistory | None, segment_id: str) -> str:
    """``▁▂▃▅▇ 412 → 530 (+29%)`` for a markdown table cell, or ``NO_TREND`` (—) with no size.

    Plain text, not code: the bars are the chart, drawn by the UI's own font, in Prefect's
    open-source UI and Cloud alike (both render markdown tables, neither renders scripts).
    """
    sizes = history.sizes(segment_id) if history else []
    return trend_text(sizes) if sizes else NO_TREND


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


def _cell(text: str) -> str:
    """Keep a segment name inside one markdown table cell, inert (no emphasis, no HTML)."""
    return _escape(" ".join(text.split()))


def _escape(text: str) -> str:
    """Markdown-inert text: a segment name may hold ``*``, ``|``, ``#`` or HTML."""
    return "".join(f"\\{char}" if char in "\\`*_{}[]()#+-.!|<>~" else char for char in text)
