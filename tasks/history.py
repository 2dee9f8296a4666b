"""The ``segment_size_history`` task, and writing its rows to a file like a segments export.

The history lives in the account's state beside its snapshot (see ``core.size_history``);
``state`` is the same location the watch's snapshot tasks take (a path or fsspec URL; a flow
turns a filesystem block into one with ``flows.common.state_location``). Rows carry segment
ids, names, times and counts, never a contact.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime

from prefect import get_run_logger
from prefect.filesystems import WritableFileSystem
from pydantic import AwareDatetime, BaseModel, ConfigDict

from ._dispatch import dual_task
from .core.errors import SnapshotError
from .core.formats import ExportFormat, to_csv, to_json, to_jsonl, to_parquet
from .core.locations import display_location
from .core.size_history import SizeHistory, SizeSource, history_location, read_history
from .exports import ExportResult, write_whole_file
from .snapshots import DEFAULT_STATE_DIR

HISTORY_COLUMNS = ("id", "name", "at", "size", "source")
_WRITERS = {"json": to_json, "jsonl": to_jsonl}
_TABLE_WRITERS = {"csv": to_csv, "parquet": to_parquet}
"""Writers with a header: given the columns, else they would lay out segment columns."""


class SizeHistoryRow(BaseModel):
    """One recorded size of one segment."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str | None
    at: AwareDatetime
    size: int
    source: SizeSource


def history_rows(
    history: SizeHistory, segment_ids: list[str] | None = None
) -> list[SizeHistoryRow]:
    """Rows of ``history`` by segment id (sorted), oldest point first; ``segment_ids`` filters."""
    wanted = set(segment_ids) if segment_ids else None
    return [
        SizeHistoryRow(
            id=segment_id,
            name=history.names.get(segment_id),
            at=point.at,
            size=point.size,
            source=point.source,
        )
        for segment_id in sorted(history.points)
        if wanted is None or segment_id in wanted
        for point in history.points[segment_id]
    ]


async def _segment_size_history(
    account: str,
    state: str = DEFAULT_STATE_DIR,
    segment_ids: list[str] | None = None,
    since: datetime | None = None,
) -> list[SizeHistoryRow]:
    """Read each segment's recorded sizes from the account's state.

    Args:
        account: The account's label, as given to the watch.
        state: The watch's state directory: a local path or fsspec URL.
        segment_ids: Only these segments (default: all, removed ones included).
        since: Only points recorded at or after this time (timezone-aware).

    Returns:
        One row per recorded size, by segment id, oldest first; empty before the first run.

    Example:
        Print how one account's segments grew:
        ```python
        from prefect import flow
        from prefect_botpenguin import segment_size_history

        @flow
        def sizes() -> int:
            rows = segment_size_history("larkspur", state="snapshots")
            for row in rows:
                print(row.id, row.at, row.size)
            return len(rows)

        if __name__ == "__main__":
            sizes()
        ```
    """
    location = history_location(state, account)
    history = await asyncio.to_thread(read_history, location)
    logger = get_run_logger()
    if history is None:
        logger.info("No size history at %s yet", display_location(location))
        return []
    rows = history_rows(history, segment_ids)
    if since is not None:
        rows = [row for row in rows if row.at >= since]
    logger.info(
        "Read %d size point(s) of %d segment(s) from %s",
        len(rows),
        len({row.id for row in rows}),
        display_location(location),
    )
    return rows


asegment_size_history, segment_size_history = dual_task(
    _segment_size_history, name="botpenguin-segment-size-history"
)


async def read_trend_history(account: str, state: str) -> SizeHistory | None:
    """The account's stored history for a trend, or None: none yet, or unreadable.

    A trend decorates an artifact, so an unreadable history is a warning naming the file
    (the watch's own save reports it as an error), never a failed report.
    """
    location = history_location(state, account)
    try:
        return await asyncio.to_thread(read_history, location)
    except SnapshotError as exc:
        get_run_logger().warning("No size trend: %s", exc)
        return None


def serialise_rows(rows: list[SizeHistoryRow], format: ExportFormat) -> bytes:
    """The rows as a whole file in ``format`` (times as ISO 8601 text), ``HISTORY_COLUMNS``
    in that order."""
    records = [row.model_dump(mode="json") for row in rows]
    if format in ("csv", "parquet"):
        return _TABLE_WRITERS[format](records, HISTORY_COLUMNS)
    return _WRITERS[format](records)


async def write_history_export(
    rows: list[SizeHistoryRow],
    destination: str | os.PathLike[str],
    format: ExportFormat | None = None,
    filesystem: WritableFileSystem | None = None,
) -> ExportResult:
    """Write ``rows`` atomically like ``export_segments`` writes segments (csv, json, jsonl,
    parquet; local path, fsspec URL or filesystem block); the previous file stays on failure.
    """
    return await write_whole_file(
        destination,
        format,
        filesystem,
        lambda chosen: serialise_rows(rows, chosen),
        len(rows),
        what="the size history",
    )
