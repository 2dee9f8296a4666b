"""Segments as Prefect artifacts: a table per account and a markdown summary beside it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

from ._dispatch import dual_task
from .core.accounts import account_slug
from .core.markdown import cell
from .core.models import Segment
from .core.size_history import SizeHistory
from .history_artifacts import trend_cell

SCALAR_TYPES = (str, int, float, bool, type(None))
SUMMARY_NAME_LIMIT = 50
CELL_JSON_LIMIT = 1_000
"""Longest JSON text a nested field gets in a table cell; longer text is cut and ends in "…"."""
CONTACT_COUNT_FIELDS = ("contactCount", "contactsCount", "totalContacts")
"""API fields that hold a segment's contact count (not documented; the first one sent wins)."""
TABLE_ROW_LIMIT = 5_000
"""Most rows a table artifact gets: the UI cannot page more, and exports hold every segment."""
EXPORT_HINT = "use `botpenguin export` for all"


def segments_artifact_key(account: str) -> str:
    """The stable key under which an account's segments table is kept across runs."""
    return f"botpenguin-segments-{account_slug(account)}"


def segment_table_rows(segments: list[Segment]) -> list[dict[str, Any]]:
    """One row per segment: ``id``, ``name``, then every other field any segment has, sorted.

    Nested fields (lists, objects) are shown as compact JSON text (sorted keys, no spaces,
    Unicode as is), cut at ``CELL_JSON_LIMIT`` (1,000) characters with a trailing "…": the
    UI shows text, and a cell that long is unreadable anyway; exports keep every value whole.
    Every row carries every column (``None`` where a segment lacks the field) so the table
    renders with a stable header.
    """
    records = [segment.to_record() for segment in segments]
    others = sorted({key for record in records for key in record if key not in ("id", "name")})
    rows = []
    for record in records:
        row = {"id": record["id"], "name": record["name"]}
        for key in others:
            row[key] = table_cell(record.get(key))
        rows.append(row)
    return rows


def table_cell(value: Any) -> Any:
    """A scalar as it is; a list or object as compact JSON text, capped (``segment_table_rows``)."""
    if isinstance(value, SCALAR_TYPES):
        return value
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True, default=str)
    if len(text) > CELL_JSON_LIMIT:
        return text[: CELL_JSON_LIMIT - 1] + "…"
    return text


def contact_count(segment: Segment) -> int | None:
    """The segment's contact count when the API sent one (``CONTACT_COUNT_FIELDS``), else None."""
    extra = segment.model_extra or {}
    for field in CONTACT_COUNT_FIELDS:
        value = extra.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def segments_summary_markdown(
    segments: list[Segment], account: str, source: str, history: SizeHistory | None = None
) -> str:
    """A short human summary: how many segments, from where, when, their names and, when the
    API sends contact counts (``CONTACT_COUNT_FIELDS``), how many contacts each holds.

    The last column is each segment's size trend from the account's ``history`` as a
    sparkline with first → last (``history_artifacts.trend_cell``), "—" where none is recorded.
    Counts are shown per segment only: segments overlap, so a total would count contacts twice.
    """
    fetched_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        f"# BotPenguin segments: {cell(account)}",
        "",
        f"**{len(segments)}** segment(s) fetched from `{source}` at {fetched_at}.",
        "",
    ]
    if segments:
        listed = segments[:SUMMARY_NAME_LIMIT]
        counts = [contact_count(segment) for segment in listed]
        if any(count is not None for count in counts):
            lines += ["| Name | Contacts | ID | Trend |", "|---|---:|---|---|"]
            lines += [
                f"| {cell(segment.name or '(unnamed)')} | {_count(count)} | `{segment.id}` "
                f"| {trend_cell(history, segment.id)} |"
                for segment, count in zip(listed, counts, strict=True)
            ]
        else:
            lines += ["| Name | ID | Trend |", "|---|---|---|"]
            lines += [
                f"| {cell(segment.name or '(unnamed)')} | `{segment.id}` "
                f"| {trend_cell(history, segment.id)} |"
                for segment in listed
            ]
        if len(segments) > TABLE_ROW_LIMIT:
            lines.append(
                f"\nThe table shows the first {TABLE_ROW_LIMIT} of {len(segments)}; {EXPORT_HINT}."
            )
        elif len(segments) > SUMMARY_NAME_LIMIT:
            lines.append(f"\n... and {len(segments) - SUMMARY_NAME_LIMIT} more in the table.")
    else:
        lines.append("The account has no segments.")
    return "\n".join(lines)


def _count(count: int | None) -> str:
    """A contact count for the summary: thousands separated, "-" when the API sent none."""
    return "-" if count is None else f"{count:,}"


async def _publish_segments_artifact(
    segments: list[Segment],
    account: str = "default",
    source: str = "BotPenguin",
    history: SizeHistory | None = None,
) -> str:
    """Record segments as a table artifact and a markdown summary, keyed per account.

    Args:
        segments: Segments from ``fetch_segments``.
        account: The account's label; the table's key is ``botpenguin-segments-<account>``
            (lowercased, dashes only) so each run adds a version to the same artifact. The
            table holds the first ``TABLE_ROW_LIMIT`` (5,000) segments and says so.
        source: Where the segments came from (the API host), shown in the summary.
        history: The account's size history (``segments_report`` reads it from the watch's
            state): the summary's Trend column draws it; "—" for every segment without.

    Returns:
        The table artifact's key.

    Example:
        Fetch and publish one account's segments:
        ```python
        from prefect import flow
        from prefect_botpenguin import fetch_segments, publish_segments_artifact

        @flow
        def record_segments() -> str:
            segments = fetch_segments()
            return publish_segments_artifact(segments, account="larkspur")

        if __name__ == "__main__":
            record_segments()
        ```
    """
    key = segments_artifact_key(account)
    shown = f"{len(segments)}"
    if len(segments) > TABLE_ROW_LIMIT:
        shown = f"showing the first {TABLE_ROW_LIMIT} of {len(segments)}; {EXPORT_HINT}"
    await acreate_table_artifact(
        segment_table_rows(segments[:TABLE_ROW_LIMIT]),
        key=key,
        description=f"Segments of BotPenguin account {account!r} ({shown}).",
    )
    await acreate_markdown_artifact(
        segments_summary_markdown(segments, account, source, history),
        key=f"{key}-summary",
        description=f"Summary of BotPenguin account {account!r}.",
    )
    return key


apublish_segments_artifact, publish_segments_artifact = dual_task(
    _publish_segments_artifact, name="publish-botpenguin-segments-artifact"
)
