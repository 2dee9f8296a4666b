"""The ``export_segments`` task: segments to a local path, an fsspec URL or a filesystem block.

Exports are atomic ("never lose data"): the whole file is serialised in memory first, so a
serialisation error touches nothing, and it is then written so that a reader only ever sees
the previous export or the complete new one. How, per destination:

- local path, ``LocalFileSystem`` block: a hidden temp file (``.NAME.tmp-RANDOM``) in the
  same directory, flushed to disk, then ``os.replace`` (an atomic rename on one filesystem);
- fsspec URL on an object store (``memory://``, ``s3://``, ``gs://``, ``az://``,
  ``abfs://``): one put of the whole object, which these stores only make visible complete;
- any other fsspec URL (``file://``, ``sftp://``, ...), ``RemoteFileSystem`` block: a hidden
  temp file next to the target, then ``fs.mv`` (a rename on file-like back-ends);
- any other ``WritableFileSystem`` block (e.g. prefect-aws's ``S3Bucket``): one
  ``write_path`` call with all the bytes, as atomic as that back-end's single write (an
  object store's put is).

A failed write removes its temp file, so no stray files are left behind.

A complete export is recorded as a Prefect asset materialization (key: its location; upstream:
the account), and a failed one records none; see ``assets``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from prefect import get_run_logger
from prefect.assets import Asset
from prefect.blocks.core import Block
from prefect.filesystems import LocalFileSystem, RemoteFileSystem, WritableFileSystem
from pydantic import BaseModel, ConfigDict, Field

from ._compat import block_document_name, resolve_path
from ._dispatch import dual_task
from .assets import (
    account_asset,
    acreate_export_link,
    arecord_materialization,
    block_asset_key,
    export_asset,
    file_asset_key,
    is_on_worker,
    url_asset_key,
    worker_host,
)
from .core.accounts import account_slug
from .core.atomic import (
    fsspec_file_replacement,
    local_file_replacement,
    local_spool,
    remove_fsspec_temps,
    remove_local_temps,
    replace_fsspec_file,
    replace_local_file,
)
from .core.errors import ConfigurationError, ExportError
from .core.formats import ExportFormat, format_for, serialise
from .core.locations import display_location, one_line_reason, open_fsspec
from .core.models import Segment


class WrittenFile(BaseModel):
    """Where a written file is, its size and its Prefect asset: what every export reports."""

    model_config = ConfigDict(frozen=True)

    destination: str = Field(
        description="Where the file is: an absolute path or a URL, credentials removed."
    )
    url: str = Field(description="A link to the file (file:// for local files).")
    size_bytes: int = Field(ge=0, description="Size of the written file in bytes.")
    asset_key: str = Field(
        description="The Prefect asset the file is recorded as: its location as a URI."
    )


class ExportResult(WrittenFile):
    """What a segments export wrote, and where."""

    format: ExportFormat = Field(description="The file format written.")
    count: int = Field(ge=0, description="How many segments the export holds.")


@dataclass(frozen=True)
class _Target:
    """A resolved destination: how to show it, link to it, and write it atomically."""

    shown: str
    url: str
    asset_key: str
    write: Callable[[bytes], Awaitable[Any]]
    stream: Callable[[], AbstractContextManager[BinaryIO]]
    """Opens a file to stream into (blocking I/O: call it off the event loop); it becomes the
    export when the block ends without error (member exports, see ``members.py``)."""
    atomic: bool = True
    sweep: Callable[[], int] = lambda: 0
    """Removes the temp files killed writes left beside it (blocking); how many."""


def export_artifact_key(account: str) -> str:
    """The stable key of an account's export link artifact, one version per export."""
    return f"botpenguin-export-{account_slug(account)}"


async def load_filesystem(name: str) -> WritableFileSystem:
    """Load a saved filesystem block by its slug, e.g. ``local-file-system/exports``."""
    try:
        block = await Block.aload(name)
    except ValueError:
        raise ConfigurationError(
            f"No filesystem block {name!r} on this Prefect server; give it as "
            "'BLOCK-TYPE/NAME' (e.g. 'local-file-system/exports') and create it under Blocks."
        ) from None
    if not isinstance(block, WritableFileSystem):
        raise ConfigurationError(
            f"Block {name!r} is a {type(block).__name__}, not a writable filesystem; use e.g. "
            "a Local File System or Remote File System block."
        )
    return block


async def write_export(
    segments: list[Segment],
    destination: str | os.PathLike[str],
    format: ExportFormat | None = None,
    filesystem: WritableFileSystem | None = None,
) -> ExportResult:
    """Serialise ``segments`` and write them atomically: the task without its artifact.

    Raises ``ExportError`` (one line) for an unknown format, a value that is not JSON data, a
    destination outside a block's base path, or a failed write; the previous export stays.
    """
    return await write_whole_file(
        destination, format, filesystem, lambda chosen: serialise(segments, chosen), len(segments)
    )


async def write_whole_file(
    destination: str | os.PathLike[str],
    format: ExportFormat | None,
    filesystem: WritableFileSystem | None,
    encode: Callable[[ExportFormat], bytes],
    count: int,
    what: str = "the export",
) -> ExportResult:
    """Encode a file of ``count`` records in the chosen format and write it atomically.

    What every whole-file export shares (segments, size history): the format from the
    extension or ``format``, the destination resolved off the event loop (fsspec back-ends
    may connect), and one ``ExportError`` line naming ``what`` when the write fails.
    """
    chosen = format_for(destination, format)
    target = await asyncio.to_thread(resolve_target, destination, filesystem)
    data = await asyncio.to_thread(encode, chosen)
    try:
        await target.write(data)
    except ExportError:
        raise
    except Exception as exc:
        kept = " (the previous export there was not replaced)" if target.atomic else ""
        raise ExportError(
            f"Could not write {what} to {target.shown}: {one_line_reason(exc)}; check that the "
            f"location is writable{kept}."
        ) from exc
    return ExportResult(
        destination=target.shown,
        url=target.url,
        format=chosen,
        count=count,
        size_bytes=len(data),
        asset_key=target.asset_key,
    )


async def _export_segments(
    segments: list[Segment],
    destination: str | os.PathLike[str],
    format: ExportFormat | None = None,
    filesystem: WritableFileSystem | None = None,
    account: str = "default",
    source: str | None = None,
) -> ExportResult:
    """Write every segment, with every field, to a file atomically and link it as an artifact.

    Columns are ``id, name, customer_id``, then every other field any segment has (sorted).
    CSV writes nested values as JSON text; JSON and JSON Lines keep native types; Parquet
    stores nested and mixed-type columns as JSON text (see ``core.formats.to_parquet``). The
    write is atomic (see this module's docstring): a failure leaves the previous export as it
    was and no temp files behind. Not retried: a failed write is reported, not repeated.

    A complete export is recorded as a Prefect asset materialization: the asset's key is the
    file's location (``file:///...``, ``s3://...``), its upstream asset the account
    (``botpenguin://<api-host>/<account>/segments``), its metadata the format and counts. A
    failed export records none (see ``prefect_botpenguin.assets``).

    Args:
        segments: Segments from ``fetch_segments``.
        destination: A local path, an fsspec URL (``memory://``, ``s3://bucket/key``, ...; its
            back-end must be installed) or, with ``filesystem``, a path inside that block.
        format: ``"csv"``, ``"json"``, ``"jsonl"`` or ``"parquet"``; by default taken from
            the destination's extension (``.ndjson`` also means JSON Lines).
        filesystem: A ``WritableFileSystem`` block (``LocalFileSystem``,
            ``RemoteFileSystem``, ...) to write into.
        account: The account's label; the link artifact's key is
            ``botpenguin-export-<account>`` (lowercased, dashes only).
        source: The API base URL the segments came from, naming the upstream account
            asset; default ``BOTPENGUIN_BASE_URL``. Only its host is used.

    Returns:
        Where the export went, its format, how many segments and how many bytes.

    Example:
        Export one account's segments to Parquet:
        ```python
        from prefect import flow
        from prefect_botpenguin import ExportResult, export_segments, fetch_segments

        @flow
        def export_to_parquet() -> ExportResult:
            segments = fetch_segments()
            return export_segments(segments, "exports/segments.parquet", account="larkspur")

        if __name__ == "__main__":
            print(export_to_parquet().destination)
        ```
    """
    result = await write_export(segments, destination, format=format, filesystem=filesystem)
    await arecord_materialization(
        [(export_asset_of(result, account), export_metadata(result, account))],
        upstream=account_asset(account, source, "segments"),
    )
    await acreate_export_link(
        result.destination,
        result.url,
        export_artifact_key(account),
        f"Export of BotPenguin account {account!r}: {result.count} segment(s) as "
        f"{result.format.upper()} ({result.size_bytes} bytes).",
    )
    get_run_logger().info(
        "Exported %d segment(s) as %s to %s (%d bytes)",
        result.count,
        result.format.upper(),
        result.destination,
        result.size_bytes,
    )
    return result


def export_asset_of(result: ExportResult, account: str) -> Asset:
    """The asset a segments export materializes (see ``prefect_botpenguin.assets``)."""
    return export_asset(
        result.asset_key,
        name=f"BotPenguin segments export: {account} ({result.format.upper()})",
        description=(
            f"Every segment of BotPenguin account {account!r}, exported by prefect-botpenguin "
            f"as {result.format.upper()} to {result.destination}."
        ),
    )


def export_metadata(result: ExportResult, account: str) -> dict[str, Any]:
    """What a materialization records: counts and format, never a token or a segment."""
    metadata: dict[str, Any] = {
        "account": account,
        "format": result.format,
        "segments": result.count,
        "size_bytes": result.size_bytes,
        "destination": result.destination,
    }
    if is_on_worker(result.url):
        metadata["worker_host"] = worker_host()
    return metadata


aexport_segments, export_segments = dual_task(_export_segments, name="export-botpenguin-segments")


def resolve_target(
    destination: str | os.PathLike[str], filesystem: WritableFileSystem | None
) -> _Target:
    """Work out where ``destination`` is and which atomic writer reaches it."""
    location = os.fspath(destination)
    if filesystem is None:
        if "://" in location:
            return _fsspec_target(location)
        path = Path(location).expanduser().resolve()
        return _local_target(path)
    try:
        # Prefect's own resolution, so the block's base-path containment check applies.
        if isinstance(filesystem, LocalFileSystem):
            return _local_target(resolve_path(filesystem, location))
        if isinstance(filesystem, RemoteFileSystem):
            url = resolve_path(filesystem, location)
            return _fsspec_target(url, filesystem.filesystem)
    except (ValueError, RuntimeError) as exc:  # outside the base path; back-end not installed
        raise ExportError(f"Cannot export to {location!r}: {one_line_reason(exc)}") from None
    return _block_target(filesystem, location)


def _local_target(path: Path) -> _Target:
    return _Target(
        shown=str(path),
        url=path.as_uri(),
        asset_key=file_asset_key(path.as_uri()),
        write=lambda data: asyncio.to_thread(_replace_local, path, data),
        stream=lambda: _stream_local(path),
        sweep=lambda: remove_local_temps(path),
    )


def _fsspec_target(url: str, fs: Any = None) -> _Target:
    fs, path = open_fsspec(url, ExportError, "export to", fs)
    shown = display_location(url)
    return _Target(
        shown=shown,
        url=shown,
        asset_key=url_asset_key(url),
        write=lambda data: asyncio.to_thread(_replace_fsspec, fs, path, data),
        stream=lambda: _stream_fsspec(fs, path),
        sweep=lambda: remove_fsspec_temps(fs, path),
    )


def _block_target(filesystem: WritableFileSystem, path: str) -> _Target:
    shown = f"{path} ({type(filesystem).__name__} block)"

    async def write(data: bytes) -> None:
        written = filesystem.write_path(path, data)  # Prefect's async_dispatch may return a value
        if inspect.isawaitable(written):
            await written

    @contextlib.contextmanager
    def stream() -> Iterator[BinaryIO]:
        # A block takes whole bytes: spool to a local file, then one write_path of it all.
        with local_spool() as spool:
            yield spool
            spool.seek(0)
            written = filesystem.write_path(path, spool.read())
            if inspect.isawaitable(written):
                asyncio.run(_awaited(written))  # called from a worker thread: no running loop

    key = block_asset_key(filesystem.get_block_type_slug(), block_document_name(filesystem), path)
    return _Target(shown=shown, url=path, asset_key=key, write=write, stream=stream, atomic=False)


async def _awaited(value: Awaitable[Any]) -> Any:
    return await value


def _replace_local(path: Path, data: bytes) -> None:
    if path.is_dir():
        raise ExportError(f"Cannot export to {path}: it is a directory; add a file name.")
    replace_local_file(path, data)


@contextlib.contextmanager
def _stream_local(path: Path) -> Iterator[BinaryIO]:
    if path.is_dir():
        raise ExportError(f"Cannot export to {path}: it is a directory; add a file name.")
    with local_file_replacement(path) as file:
        yield file


@contextlib.contextmanager
def _stream_fsspec(fs: Any, path: str) -> Iterator[BinaryIO]:
    if fs.isdir(path):
        raise ExportError(f"Cannot export to {path}: it is a directory; add a file name.")
    with fsspec_file_replacement(fs, path) as file:
        yield file


def _replace_fsspec(fs: Any, path: str, data: bytes) -> None:
    if fs.isdir(path):
        raise ExportError(f"Cannot export to {path}: it is a directory; add a file name.")
    replace_fsspec_file(fs, path, data)
