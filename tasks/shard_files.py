"""A shard's files: each account's segments file, its report, and the parent's manifest.

All of them go where the export goes (a local path, an fsspec URL, or a filesystem block),
written atomically by the pack's export writers, so a report is readable by a parent on
another machine when the destination is shared, and a killed shard leaves no partial file.
Reports and the manifest hold labels, ids, counts and locations: no token, no contact.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Any

from prefect.filesystems import LocalFileSystem, RemoteFileSystem, WritableFileSystem
from pydantic import BaseModel

from ._compat import resolve_path
from .core.errors import BotPenguinError, ExportError
from .core.fanout import AccountOutcome, FanoutReport
from .core.formats import ExportFormat
from .core.locations import one_line_reason, open_fsspec
from .core.shards import AccountRef, ShardAccount, account_destination
from .exports import resolve_target, write_export, write_whole_file


async def write_json(
    model: BaseModel, location: str, filesystem: WritableFileSystem | None, what: str
) -> str:
    """Write ``model`` as JSON at ``location`` atomically; returns where it went."""
    data = model.model_dump_json(indent=1).encode()
    written = await write_whole_file(location, "json", filesystem, lambda _: data, 1, what=what)
    return written.destination


async def remove_temp_leftovers(location: str, filesystem: WritableFileSystem | None) -> int:
    """Remove the hidden temp files killed writes of ``location`` left; how many.

    For a re-run shard only: its killed run is the one writer that could have left them,
    and no other run writes its accounts' files, so no live write's temp file is taken.
    """
    target = await asyncio.to_thread(resolve_target, location, filesystem)
    return await asyncio.to_thread(target.sweep)


async def read_text(location: str, filesystem: WritableFileSystem | None) -> str:
    """The text at ``location`` (resolved like an export's destination)."""
    return (await asyncio.to_thread(_read_blocking, location, filesystem)).decode()


def _read_blocking(location: str, filesystem: WritableFileSystem | None) -> bytes:
    if isinstance(filesystem, LocalFileSystem):
        return Path(resolve_path(filesystem, location)).read_bytes()
    if isinstance(filesystem, RemoteFileSystem):  # its own fs: the block's settings apply
        url = resolve_path(filesystem, location)
        fs, path = open_fsspec(url, ExportError, "read", filesystem.filesystem)
        return bytes(fs.cat_file(path))
    if filesystem is not None:
        data: Any = filesystem.read_path(location)
        if inspect.isawaitable(data):
            data = asyncio.run(_awaited(data))  # a worker thread: no running loop here
        return bytes(data)
    if "://" in location:
        fs, path = open_fsspec(location, ExportError, "read", None)
        return bytes(fs.cat_file(path))
    return Path(location).expanduser().read_bytes()


async def _awaited(value: Awaitable[Any]) -> Any:
    return await value


async def export_account_segments(
    report: FanoutReport,
    refs: Mapping[str, AccountRef],
    export: str,
    shard: int,
    format: ExportFormat | None,
    filesystem: WritableFileSystem | None,
    concurrency: int,
    sweep_leftovers: bool = False,
) -> list[ShardAccount]:
    """Write each collected account's segments to its own file; one report line per account.

    A write that fails fails only its account (its line carries the one-line reason). With
    ``sweep_leftovers`` (a re-run shard), each file's temp leftovers go first.
    """
    slots = asyncio.Semaphore(max(1, concurrency))

    async def one(outcome: AccountOutcome) -> ShardAccount:
        line = ShardAccount(
            label=outcome.label,
            customer_id=outcome.customer_id,
            error=outcome.error,
            segment_count=len(outcome.segments),
            seconds=outcome.seconds,
        )
        ref = refs.get(outcome.label)
        if ref is None:
            return line
        destination = account_destination(export, ref, shard)
        async with slots:
            try:
                if sweep_leftovers:  # a failed account's leftovers too: they are its own
                    await remove_temp_leftovers(destination, filesystem)
                if not outcome.ok:
                    return line
                written = await write_export(outcome.segments, destination, format, filesystem)
            except Exception as exc:
                error = outcome.error or f"export: {_one_line(exc)}"  # the first failure
                return line.model_copy(update={"error": error})
        return line.model_copy(update={"files": [written.destination]})

    return list(await asyncio.gather(*(one(outcome) for outcome in report.outcomes)))


def _one_line(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, BotPenguinError) else one_line_reason(exc)
    return " ".join(text.split())
