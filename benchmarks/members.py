"""e. One segment's members to a file: the member export's core path against a plain script.

The pack is ``write_members_export`` (what the ``export_segment_members`` task runs): the
page iterator over ``POST /inbox/users``, ``Contact`` models, ``to_record``, the streaming
writers of ``core.member_files`` and the atomic temp-file target. The baseline is what a
plain script would write: ``httpx`` + ``json.loads`` page by page, appending each page to a
``csv.writer`` or a ``pyarrow.parquet.ParquetWriter`` (nested values as JSON text, columns
and schema from the first page), temp file + fsync + rename. Both stream, so both hold one
page at a time; the ratio compares the per-contact work.

Two audience sizes run against their own sandbox (a child process generating the contacts
page by page): time is compared at both, and the pack's peak memory at the large size is
compared with the small one -- it must stay flat, as memory is bounded by the page.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import httpx

from benchmarks.measure import Result, alternate, peak_megabytes, ratio
from benchmarks.sandbox_process import RemoteSandbox, SandboxConfig
from prefect_botpenguin.core.client import BotPenguinClient
from prefect_botpenguin.core.members import EMPTY_FILTERS, MEMBERS_PATH
from prefect_botpenguin.members import write_members_export

TIME_TARGET = 1.3
FLAT_MEMORY_TARGET = 1.2
PAGE_SIZE = 500
FORMATS = ("csv", "parquet")


async def pack_export(url: str, token: str, segment_id: str, path: Path, fmt: str) -> int:
    async with BotPenguinClient(token, base_url=url) as client:
        result = await write_members_export(client, path, [segment_id], format=fmt)  # type: ignore[arg-type]
    return result.count


async def _baseline_pages(url: str, token: str, segment_id: str) -> Any:
    headers = {"Authorization": f"Bearer {token}", "authtype": "Key"}
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as http:
        page = 1
        while True:
            body = {**EMPTY_FILTERS, "segments": [segment_id], "page": page}
            response = await http.post(MEMBERS_PATH, json=body)
            response.raise_for_status()
            data: list[dict[str, Any]] = json.loads(response.content)["data"]
            if not data:
                return
            yield data
            page += 1


def _flat(segment_id: str, contact: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {"segment_id": segment_id}
    for key, value in contact.items():
        nested = isinstance(value, dict | list)
        record[key] = json.dumps(value, ensure_ascii=False) if nested else value
    return record


async def baseline_export(url: str, token: str, segment_id: str, path: Path, fmt: str) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    temp = path.with_name(f".{path.name}.tmp")
    rows = 0
    with open(temp, "wb") as file:
        text = io.TextIOWrapper(file, encoding="utf-8", newline="") if fmt == "csv" else None
        columns: list[str] = []
        writer: Any = None
        async for page in _baseline_pages(url, token, segment_id):
            records = [_flat(segment_id, contact) for contact in page]
            if text is not None:
                if writer is None:
                    columns = sorted({key for record in records for key in record})
                    writer = csv.writer(text)
                    writer.writerow(columns)
                writer.writerows(
                    ["" if r.get(c) is None else r.get(c) for c in columns] for r in records
                )
            else:
                if writer is None:
                    schema = pa.Table.from_pylist(records).schema
                    writer = pq.ParquetWriter(file, schema)
                writer.write_table(pa.Table.from_pylist(records, schema=writer.schema))
            rows += len(records)
        if text is not None:
            text.flush()
            text.detach()
        elif writer is not None:
            writer.close()
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)
    return rows


def _segment_id(sandbox: RemoteSandbox) -> str:
    async def first() -> str:
        async with BotPenguinClient(sandbox.tokens[0], base_url=sandbox.url) as client:
            return (await client.get_segments())[0].id

    return asyncio.run(first())


def _format_rows(
    sandbox: RemoteSandbox, segment_id: str, size: int, fmt: str, reps: int, directory: Path
) -> tuple[list[Result], float]:
    """Pack and baseline rows for one size and format, and the pack's peak memory."""
    url, token = sandbox.url, sandbox.tokens[0]
    writer = "csv.writer" if fmt == "csv" else "pyarrow ParquetWriter"
    pack = f"pack: write_members_export (export_segment_members' core), {fmt}"
    baseline = f"baseline: httpx + json.loads + {writer}"
    targets = {pack: directory / f"pack.{fmt}", baseline: directory / f"base.{fmt}"}

    def run(name: str) -> int:
        export = pack_export if name == pack else baseline_export
        return asyncio.run(export(url, token, segment_id, targets[name], fmt))

    def check(name: str, value: Any) -> None:
        if value != size:
            raise RuntimeError(f"{name}: wrote {value} of {size} members")

    def run_pack() -> int:
        return run(pack)

    def run_baseline() -> int:
        return run(baseline)

    timings = alternate(reps, {pack: run_pack, baseline: run_baseline}, check)
    memory = {pack: peak_megabytes(run_pack), baseline: peak_megabytes(run_baseline)}
    time_ratio = ratio(timings[pack].median, timings[baseline].median)
    rows = []
    for name in (pack, baseline):
        is_pack = name == pack
        file_mb = targets[name].stat().st_size / 1e6
        rows.append(
            Result(
                case=f"h. members: {size:,} of one segment to {fmt.upper()}",
                variant=name,
                seconds=timings[name].median,
                cpu_seconds=timings[name].cpu_median,
                peak_mb=memory[name],
                time_ratio=time_ratio if is_pack else None,
                memory_ratio=ratio(memory[pack], memory[baseline]) if is_pack else None,
                target=f"<= {TIME_TARGET}x time" if is_pack else "",
                met=(time_ratio or 0) <= TIME_TARGET if is_pack else None,
                note=f"{PAGE_SIZE} per page; file {file_mb:.1f} MB",
                samples=timings[name].wall,
            )
        )
    return rows, memory[pack]


def member_rows(sizes: tuple[int, ...], reps: int, directory: Path) -> list[Result]:
    """Rows for each audience size and format, then the pack's memory: largest vs smallest."""
    rows: list[Result] = []
    pack_peaks: dict[tuple[str, int], float] = {}
    for size in sizes:
        config = SandboxConfig(
            accounts=1,
            segments_per_account=1,
            contacts_per_segment=size,
            member_page_size=PAGE_SIZE,
        )
        with RemoteSandbox(config) as sandbox:
            segment_id = _segment_id(sandbox)
            for fmt in FORMATS:
                found, pack_peaks[(fmt, size)] = _format_rows(
                    sandbox, segment_id, size, fmt, reps, directory
                )
                rows += found
    large, small = max(sizes), min(sizes)
    for fmt in FORMATS:
        flat = ratio(pack_peaks[(fmt, large)], pack_peaks[(fmt, small)])
        rows.append(
            Result(
                case=f"h. members: pack peak memory, {large:,} vs {small:,} members",
                variant=f"pack: write_members_export, {fmt}",
                peak_mb=pack_peaks[(fmt, large)],
                memory_ratio=flat,
                target=f"<= {FLAT_MEMORY_TARGET}x memory (flat in audience size)",
                met=(flat or 0) <= FLAT_MEMORY_TARGET,
                note=f"{pack_peaks[(fmt, small)]:.2f} MB at {small:,}",
            )
        )
    return rows
