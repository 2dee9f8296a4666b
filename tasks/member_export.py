"""The member file writer: a segment's contacts streamed into one export file, or one per segment.

Memory is bounded by one page, not by the audience: pages are written into the export's
temp file as they arrive (see ``core.member_files`` for how CSV and Parquet columns are
chosen), and the temp file replaces the destination only once the last page is written. A
page that fails after the client's retries fails the whole export: the previous export
stays as it was and no temp file is left (``core.atomic``). Destinations are the same as
segment exports' (local path, fsspec URL, filesystem block; see ``exports.py``); a block
that is neither a Local nor a Remote File System gets one ``write_path`` of the whole file,
so only there the file passes through memory once at the end.

Why apart from ``members``: this is the export without Prefect's task, artifact and asset
around it, which benchmarks and tests call directly. Errors name the location, never a contact.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any

from prefect.filesystems import WritableFileSystem
from pydantic import BaseModel, ConfigDict, Field

from .core.client import BotPenguinClient
from .core.errors import BotPenguinError, ExportError
from .core.formats import ExportFormat, format_for
from .core.locations import display_location, one_line_reason
from .core.member_files import RecordWriter, record_writer
from .core.members import MAX_PAGES, MemberPage, iter_members
from .exports import WrittenFile, resolve_target

SEGMENT_PLACEHOLDER = "{segment_id}"
_SAFE_SEGMENT_ID = re.compile(r"[A-Za-z0-9_-]+")


class MemberFile(WrittenFile):
    """One file a member export wrote."""

    count: int = Field(ge=0, description="Rows (memberships) in the file.")


class MembersExportResult(BaseModel):
    """What a member export wrote: files, format and counts (never contacts)."""

    model_config = ConfigDict(frozen=True)

    destination: str = Field(description="The destination as given, credentials removed.")
    format: ExportFormat = Field(description="The file format written.")
    count: int = Field(ge=0, description="Rows written: one per contact per segment.")
    segments: dict[str, int] = Field(description="Rows per segment id, in export order.")
    files: list[MemberFile] = Field(
        description="Every file written (one per segment with {segment_id})."
    )
    size_bytes: int = Field(ge=0, description="Bytes written, all files together.")


async def write_members_export(
    client: BotPenguinClient,
    destination: str | os.PathLike[str],
    segment_ids: Sequence[str] | None = None,
    format: ExportFormat | None = None,
    filesystem: WritableFileSystem | None = None,
    fields: Sequence[str] | None = None,
    max_pages: int = MAX_PAGES,
    sweep_leftovers: bool = False,
) -> MembersExportResult:
    """Stream the members into one file, or one per segment: the task without its artifact.

    ``sweep_leftovers`` first removes each file's hidden temp files that killed writes left
    (only for a writer that knows none of them is live: a re-run shard).
    """
    location = os.fspath(destination)
    chosen = format_for(location, format)
    per_segment = SEGMENT_PLACEHOLDER in location
    if segment_ids is None:
        segment_ids = [segment.id for segment in await client.get_segments()]
    segment_ids = list(dict.fromkeys(segment_ids))
    counts = dict.fromkeys(segment_ids, 0)
    files: list[MemberFile] = []
    if per_segment:
        for segment_id in segment_ids:
            if not _SAFE_SEGMENT_ID.fullmatch(segment_id):
                raise ExportError(
                    f"Segment id {segment_id!r} cannot go into a file name; export it to a "
                    f"destination without {SEGMENT_PLACEHOLDER}."
                )
            path = location.replace(SEGMENT_PLACEHOLDER, segment_id)
            pages = iter_members(client, [segment_id], max_pages=max_pages)
            files.append(
                await _write_file(path, filesystem, chosen, fields, pages, counts, sweep_leftovers)
            )
    else:
        pages = iter_members(client, segment_ids, max_pages=max_pages)
        files.append(
            await _write_file(location, filesystem, chosen, fields, pages, counts, sweep_leftovers)
        )
    return MembersExportResult(
        destination=display_location(location) if per_segment else files[0].destination,
        format=chosen,
        count=sum(counts.values()),
        segments=counts,
        files=files,
        size_bytes=sum(f.size_bytes for f in files),
    )


async def _write_file(
    location: str,
    filesystem: WritableFileSystem | None,
    format: ExportFormat,
    fields: Sequence[str] | None,
    pages: AsyncIterator[MemberPage],
    counts: dict[str, int],
    sweep_leftovers: bool = False,
) -> MemberFile:
    """One file, atomically: pages go into a temp file that replaces ``location`` at the end."""
    target = await asyncio.to_thread(resolve_target, location, filesystem)
    if sweep_leftovers:
        await asyncio.to_thread(target.sweep)
    stream = target.stream()
    rows = 0
    try:
        file = await asyncio.to_thread(stream.__enter__)
    except ExportError:
        raise
    except Exception as exc:
        raise _write_error(target.shown, exc, target.atomic) from None
    writer: RecordWriter | None = None
    try:
        writer = record_writer(format, file, fields)
        # A local file takes a page in about a millisecond: writing it here costs less than
        # handing it to a thread (GIL hand-offs, benchmarks/NOTES.md, e); other back-ends
        # may block on the network, so they write from a thread.
        local = target.url.startswith("file://")
        async for page in _read_ahead(pages):
            if local:
                _write_page(writer, page, fields)
            else:
                await asyncio.to_thread(_write_page, writer, page, fields)
            counts[page.segment_id] += len(page.contacts)
            rows += len(page.contacts)
        await asyncio.to_thread(writer.close)
        size = file.tell()
    except BaseException as exc:
        # Synchronous on purpose: removing the temp file must happen even when cancelled.
        if writer is not None:
            writer.discard()
        _abandon(stream, exc)
        if isinstance(exc, BotPenguinError) or not isinstance(exc, Exception):
            raise
        raise _write_error(target.shown, exc, target.atomic) from None
    try:
        await asyncio.to_thread(stream.__exit__, None, None, None)
    except ExportError:
        raise
    except Exception as exc:
        raise _write_error(target.shown, exc, target.atomic) from None
    return MemberFile(
        destination=target.shown,
        url=target.url,
        count=rows,
        size_bytes=size,
        asset_key=target.asset_key,
    )


def _write_page(writer: RecordWriter, page: MemberPage, fields: Sequence[str] | None) -> None:
    writer.write([contact.to_record(page.segment_id, fields) for contact in page.contacts])


async def _read_ahead(pages: AsyncIterator[MemberPage]) -> AsyncIterator[MemberPage]:
    """``pages``, with the next page fetched while the caller writes this one.

    At most one page is fetched ahead, so memory stays bounded by two pages; the pages and
    their errors arrive in the same order as without it. Ending early cancels the fetch.
    """

    async def following() -> MemberPage:
        return await anext(pages)

    ahead = asyncio.ensure_future(following())
    try:
        while True:
            try:
                page = await ahead
            except StopAsyncIteration:
                return
            ahead = asyncio.ensure_future(following())
            yield page
    finally:
        if not ahead.done():
            ahead.cancel()
            with contextlib.suppress(BaseException):
                await ahead
        with contextlib.suppress(Exception):
            await pages.aclose()  # type: ignore[attr-defined]


def _abandon(stream: Any, exc: BaseException) -> None:
    """Let the atomic writer remove its temp file; the caller reports ``exc`` itself."""
    tb: TracebackType | None = exc.__traceback__
    with contextlib.suppress(Exception):
        stream.__exit__(type(exc), exc, tb)


def _write_error(shown: str, exc: BaseException, atomic: bool) -> ExportError:
    """One line without contact data: OS errors say why, others only what kind they were."""
    reason = one_line_reason(exc) if isinstance(exc, OSError) else type(exc).__name__
    kept = " (the previous export there was not replaced)" if atomic else ""
    return ExportError(
        f"Could not write the member export to {shown}: {reason}; check that the location is "
        f"writable{kept}."
    )
