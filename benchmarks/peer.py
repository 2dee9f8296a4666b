"""e. Against a real peer: dlt doing the same work on the same sandbox, in the same run.

Both sides fetch and write a file: the pack with its Prefect-free core
(``BotPenguinClient.get_segments`` or ``collect_segments`` with a partner, then
``write_export``, the ``export_segments`` task's core), dlt with its ``rest_api`` source and
``filesystem`` destination (``benchmarks.dlt_peer``). Every ratio is pack / dlt. dlt's
pipeline folders live in a temporary directory and its telemetry is off.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import patch

from pydantic import SecretStr

from benchmarks import dlt_peer
from benchmarks.measure import Result, alternate, paired_rows, peak_megabytes
from benchmarks.sandbox_process import RemoteSandbox
from prefect_botpenguin.core.client import BotPenguinClient
from prefect_botpenguin.core.fanout import (
    FanoutAccount,
    collect_segments,
    iter_segments_with_account,
)
from prefect_botpenguin.core.formats import ExportFormat
from prefect_botpenguin.core.settings import BotPenguinSettings
from prefect_botpenguin.exports import write_export

DLT_ONE = "peer: dlt rest_api -> filesystem"
DLT_PARTNER = "peer: dlt rest_api (paginator + dependent resources) -> filesystem"


async def pack_one(url: str, token: str, target: Path, fmt: ExportFormat) -> int:
    async with BotPenguinClient(token, base_url=url) as client:
        segments = await client.get_segments()
    return (await write_export(segments, target, fmt)).count


async def pack_partner(url: str, partner_token: str, concurrency: int, target: Path) -> int:
    partner = FanoutAccount(label="partner", token=SecretStr(partner_token), base_url=url)
    report = await collect_segments(
        partner=partner, concurrency=concurrency, settings=BotPenguinSettings(base_url=url)
    )
    segments = list(iter_segments_with_account(report))
    return (await write_export(segments, target, "parquet")).count


def _fresh(workdir: Path) -> Path:
    """An empty folder per run, so neither side finds the previous run's state."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    return workdir


def _measure(
    reps: int, variants: dict[str, Callable[[], int]], expected: int
) -> tuple[dict[str, Any], dict[str, float]]:
    def check(name: str, value: Any) -> None:
        if value != expected:
            raise RuntimeError(f"{name}: wrote {value} of {expected} segments")

    for run in variants.values():  # warm-up: imports and first connections, on both sides
        check("warm-up", run())
    timings = alternate(reps, variants, check)
    memory = {name: peak_megabytes(run) for name, run in variants.items()}
    return timings, memory


def one_account_rows(
    segments: int, reps: int, sandbox: RemoteSandbox, directory: Path
) -> list[Result]:
    """One account to Parquet and to JSON Lines: the pack's core vs dlt, in this process."""
    url, token = sandbox.url, sandbox.tokens[0]
    rows: list[Result] = []
    with patch.dict(os.environ, dlt_peer.environment(directory / "dlt")):
        for fmt in ("parquet", "jsonl"):
            case = f"e. peer: one account, {segments:,} segments, fetch + {fmt.upper()}"
            pack = f"pack: get_segments + write_export, {fmt}"
            target = directory / f"pack.{fmt}"

            def run_pack(fmt: ExportFormat = fmt, target: Path = target) -> int:
                return asyncio.run(pack_one(url, token, target, fmt))

            def run_peer(fmt: str = fmt) -> int:
                folder = dlt_peer.one_account(url, token, _fresh(directory / "dlt"), fmt)
                return dlt_peer.count_rows(folder)

            timings, memory = _measure(reps, {pack: run_pack, DLT_ONE: run_peer}, segments)
            notes = {
                pack: f"one file, {target.stat().st_size / 1e3:,.0f} kB",
                DLT_ONE: "plus dlt's state and schema files; adds _dlt_id, _dlt_load_id",
            }
            rows += paired_rows(case, pack, DLT_ONE, timings, memory, notes=notes)
    return rows


def partner_rows(
    accounts: int, concurrency: int, reps: int, sandbox: RemoteSandbox, directory: Path
) -> list[Result]:
    """A partner's customers discovered and collected, one Parquet file: pack vs dlt."""
    url, token = sandbox.url, sandbox.partner_token
    case = f"e. peer: partner fan-out with discovery, {accounts} customers, to PARQUET"
    pack = f"pack: collect_segments(partner=...) + write_export, concurrency {concurrency}"
    target = directory / "partner.parquet"

    def run_pack() -> int:
        return asyncio.run(pack_partner(url, token, concurrency, target))

    def run_peer() -> int:
        folder = dlt_peer.partner(url, token, _fresh(directory / "dlt"))
        return dlt_peer.count_rows(folder)

    with patch.dict(os.environ, dlt_peer.environment(directory / "dlt", workers=concurrency)):
        expected = run_pack()  # dlt must write exactly as many segments as the pack
        if expected <= 0:
            raise RuntimeError("the pack collected no segments from the partner's customers")
        timings, memory = _measure(reps, {pack: run_pack, DLT_PARTNER: run_peer}, expected)
    notes = {
        pack: f"{expected:,} segments",
        DLT_PARTNER: f"dlt extract workers {concurrency} (EXTRACT__WORKERS)",
    }
    return paired_rows(case, pack, DLT_PARTNER, timings, memory, notes=notes)
