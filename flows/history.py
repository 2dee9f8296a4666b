"""``segments_history_export``: an account's recorded segment sizes to a file, atomically.

The history is what the watch records in its state, one point per segment and run; this
flow reads it with the ``segment_size_history`` task and writes it like a segments export
(same formats, same atomic write, a link artifact). Sizes, names and ids only.
"""

from __future__ import annotations

from prefect import get_run_logger

from ..assets import acreate_export_link
from ..core.accounts import account_slug
from ..core.errors import ExportError
from ..core.formats import ExportFormat, format_for
from ..core.locations import display_location
from ..core.settings import load_settings
from ..core.size_history import history_location
from ..exports import ExportResult
from ..history import segment_size_history, write_history_export
from ..snapshots import DEFAULT_STATE_DIR
from .common import FilesystemParam, NonEmpty, resolve_filesystem, state_location
from .pack_flow import pack_flow


def history_export_artifact_key(account: str) -> str:
    """The stable key of an account's history export link artifact."""
    return f"botpenguin-history-export-{account_slug(account)}"


@pack_flow("botpenguin-segments-history-export")
async def segments_history_export(
    destination: NonEmpty,
    account: str | None = None,
    state: str = DEFAULT_STATE_DIR,
    state_filesystem: FilesystemParam = None,
    segments: list[str] | None = None,
    format: ExportFormat | None = None,
    filesystem: FilesystemParam = None,
) -> ExportResult:
    """Export an account's size history (one row per segment and recorded run) to a file.

    Columns: id, name, at, size, source. With no history yet, nothing is written and the run
    fails with one line saying so; a previous export at the destination stays as it was.

    Args:
        destination: Where to write: a local path, an fsspec URL such as
            s3://bucket/history.parquet, or a path inside the filesystem block.
        account: The account's label, as the watch was given it; defaults to
            BOTPENGUIN_ACCOUNT.
        state: The watch's state directory holding the history: a local path or an fsspec
            URL, or a path inside state_filesystem.
        state_filesystem: A saved filesystem block holding the watch's state directory.
            Leave empty for state alone.
        segments: Only these segment ids (default: every segment ever recorded).
        format: {FORMAT_HELP}
        filesystem: A saved filesystem block to write into. Leave empty to write to the
            destination directly.
    """
    format_for(destination, format)  # a typo fails before anything is read
    label = account or load_settings().account
    location = state_location(state, await resolve_filesystem(state_filesystem))
    block = await resolve_filesystem(filesystem)
    rows = await segment_size_history.aio(label, location, segment_ids=segments)
    if not rows:
        which = f" of segments {', '.join(segments)}" if segments else ""
        raise ExportError(
            f"No size history{which} for account {label!r} in "
            f"{display_location(history_location(location, label))} yet: the watch records "
            "one point per run (botpenguin watch). Nothing was written."
        )
    result = await write_history_export(rows, destination, format=format, filesystem=block)
    await acreate_export_link(
        result.destination,
        result.url,
        history_export_artifact_key(label),
        f"Size history of BotPenguin account {label!r}: {result.count} point(s) of "
        f"{len({row.id for row in rows})} segment(s) as {result.format.upper()} "
        f"({result.size_bytes} bytes).",
    )
    get_run_logger().info(
        "Exported %d size point(s) as %s to %s",
        result.count,
        result.format.upper(),
        result.destination,
    )
    return result
