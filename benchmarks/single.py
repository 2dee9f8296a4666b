"""b. One account with many segments: fetch + parse; c. exporting them to CSV and Parquet.

b's baseline is ``httpx`` + ``json.loads`` into dicts; the pack validates the envelope and
builds ``Segment`` models (every unknown field kept). The sandbox answers without latency
here: a latency would add the same constant to both sides and only flatter the ratio.

c's baselines are what a plain script would write: ``csv.writer`` over the raw dicts (nested
values as JSON text) and ``pyarrow.Table.from_pylist`` + ``pq.write_table`` (nested values as
JSON text, which Arrow cannot infer otherwise). Both sides write atomically (temp file,
fsync, rename), as the pack does, so the ratio compares serialisation.
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

from benchmarks.measure import Result, alternate, paired_rows, peak_megabytes, ratio
from benchmarks.sandbox_process import RemoteSandbox
from prefect_botpenguin.core.client import BotPenguinClient
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.exports import write_export

TIME_TARGET = 1.5
MEMORY_TARGET = 2.0


async def baseline_fetch(url: str, token: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        response = await http.get(
            "/inbox/segments",
            headers={"Authorization": f"Bearer {token}", "authtype": "Key"},
        )
        response.raise_for_status()
        data: list[dict[str, Any]] = json.loads(response.content)["data"]
        return data


async def pack_fetch(url: str, token: str) -> list[Segment]:
    async with BotPenguinClient(token, base_url=url) as client:
        return await client.get_segments()


def fetch_rows(
    segments: int, reps: int, sandbox: RemoteSandbox
) -> tuple[list[Result], list[Segment], list[dict[str, Any]]]:
    url, token = sandbox.url, sandbox.tokens[0]
    case = f"b. one account, {segments:,} segments: fetch + parse"
    pack = "pack: BotPenguinClient.get_segments (Segment models)"
    baseline = "baseline: httpx + json.loads into dicts"
    kept: dict[str, Any] = {}

    def check(name: str, value: Any) -> None:
        if len(value) != segments:
            raise RuntimeError(f"{name}: got {len(value)} of {segments} segments")
        kept[name] = value

    timings = alternate(
        reps,
        {
            pack: lambda: asyncio.run(pack_fetch(url, token)),
            baseline: lambda: asyncio.run(baseline_fetch(url, token)),
        },
        check,
    )
    memory = {
        pack: peak_megabytes(lambda: asyncio.run(pack_fetch(url, token))),
        baseline: peak_megabytes(lambda: asyncio.run(baseline_fetch(url, token))),
    }
    cpu_ratio = ratio(timings[pack].cpu_median, timings[baseline].cpu_median)
    rows = paired_rows(
        case,
        pack,
        baseline,
        timings,
        memory,
        targets=(TIME_TARGET, MEMORY_TARGET),
        notes={pack: f"client CPU ratio {cpu_ratio:.2f}x" if cpu_ratio else ""},
    )
    return rows, kept[pack], kept[baseline]


def _atomic_write(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    return {
        key: json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
        for key, value in record.items()
    }


def baseline_csv(records: list[dict[str, Any]], path: Path) -> int:
    columns = sorted({key for record in records for key in record})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for record in records:
        flat = _flat(record)
        writer.writerow(["" if flat.get(c) is None else flat.get(c) for c in columns])
    data = buffer.getvalue().encode("utf-8")
    _atomic_write(path, data)
    return len(data)


def baseline_parquet(records: list[dict[str, Any]], path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([_flat(record) for record in records])
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data = sink.getvalue().to_pybytes()
    _atomic_write(path, data)
    return len(data)


def export_rows(
    segments: list[Segment], records: list[dict[str, Any]], reps: int, directory: Path
) -> list[Result]:
    rows: list[Result] = []
    for fmt, baseline_write in (("csv", baseline_csv), ("parquet", baseline_parquet)):
        case = f"c. export {len(segments):,} segments to {fmt.upper()}"
        pack = f"pack: write_export (the export_segments task's core), {fmt}"
        baseline = f"baseline: {'csv.writer' if fmt == 'csv' else 'pyarrow from_pylist'}"
        target_pack = directory / f"pack.{fmt}"
        target_base = directory / f"baseline.{fmt}"

        def run_pack(fmt: str = fmt, target: Path = target_pack) -> int:
            return asyncio.run(write_export(segments, target, fmt)).size_bytes  # type: ignore[arg-type]

        def run_baseline(write: Any = baseline_write, target: Path = target_base) -> int:
            return int(write(records, target))

        def check(name: str, value: Any) -> None:
            if not isinstance(value, int) or value <= 0:
                raise RuntimeError(f"{name}: wrote nothing")

        timings = alternate(reps, {pack: run_pack, baseline: run_baseline}, check)
        memory = {pack: peak_megabytes(run_pack), baseline: peak_megabytes(run_baseline)}
        sizes = {pack: target_pack.stat().st_size, baseline: target_base.stat().st_size}
        for name in (pack, baseline):
            rows.append(
                Result(
                    case=case,
                    variant=name,
                    seconds=timings[name].median,
                    cpu_seconds=timings[name].cpu_median,
                    peak_mb=memory[name],
                    time_ratio=ratio(timings[name].median, timings[baseline].median)
                    if name == pack
                    else None,
                    memory_ratio=ratio(memory[name], memory[baseline]) if name == pack else None,
                    note=f"file {sizes[name] / 1e6:.1f} MB",
                    samples=timings[name].wall,
                )
            )
    return rows
