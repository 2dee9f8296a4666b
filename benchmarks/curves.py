"""g. Scaling curves: the same two comparisons at growing sizes, time and peak memory.

- fetch + Parquet of one account with 1k to 300k segments: the pack's core
  (``get_segments`` + ``write_export``) against ``httpx`` + ``json.loads`` + pyarrow
  (``single.baseline_fetch`` + ``single.baseline_parquet``);
- the fan-out engine (``collect_segments``) against plain asyncio + httpx for 100 to 5,000
  accounts, at row a's latency and concurrency.

Peak memory is ``measure.peak_megabytes`` (tracemalloc plus Arrow's pool), as in b and c.
Each size gets a sandbox of its own, in a child process. The largest segment point carries
the lean-data-path target (issue 13, item 3: 300,000 segments within 1.3x the baseline's time
and 1.2x its peak memory).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.fanout import baseline_fanout, pack_engine
from benchmarks.measure import Result, Timing, alternate, paired_rows, peak_megabytes
from benchmarks.sandbox_process import RemoteSandbox, SandboxConfig
from benchmarks.single import baseline_fetch, baseline_parquet
from prefect_botpenguin.core.client import BotPenguinClient
from prefect_botpenguin.core.fanout import FanoutReport
from prefect_botpenguin.exports import write_export

TIME_TARGET = 1.3
MEMORY_TARGET = 1.2


async def _pack_parquet(url: str, token: str, target: Path) -> int:
    async with BotPenguinClient(token, base_url=url) as client:
        segments = await client.get_segments()
    return (await write_export(segments, target, "parquet")).count


async def _baseline_parquet(url: str, token: str, target: Path) -> int:
    records = await baseline_fetch(url, token)
    baseline_parquet(records, target)
    return len(records)


def _pair(
    case: str,
    reps: int,
    pack: tuple[str, Callable[[], Any]],
    baseline: tuple[str, Callable[[], Any]],
    check: Callable[[str, Any], None],
    note: str = "",
    targets: tuple[float, float] | None = None,
) -> list[Result]:
    variants = dict([pack, baseline])
    timings: dict[str, Timing] = alternate(reps, variants, check)
    memory = {name: peak_megabytes(run) for name, run in variants.items()}
    return paired_rows(
        case,
        pack[0],
        baseline[0],
        timings,
        memory,
        targets=targets,
        notes={baseline[0]: note},
    )


def _segment_point(segments: int, reps: int, with_target: bool = False) -> list[Result]:
    config = SandboxConfig(accounts=1, segments_per_account=segments)
    with RemoteSandbox(config) as sandbox, tempfile.TemporaryDirectory() as folder:
        url, token = sandbox.url, sandbox.tokens[0]
        pack_file, base_file = Path(folder, "pack.parquet"), Path(folder, "base.parquet")

        def pack() -> int:
            return asyncio.run(_pack_parquet(url, token, pack_file))

        def baseline() -> int:
            return asyncio.run(_baseline_parquet(url, token, base_file))

        def check(name: str, value: Any) -> None:
            if value != segments:
                raise RuntimeError(f"{name}: wrote {value} of {segments} segments")

        return _pair(
            f"g. curve: fetch + PARQUET, {segments:,} segments",
            reps,
            ("pack: get_segments + write_export", pack),
            ("baseline: httpx + json.loads + pyarrow", baseline),
            check,
            targets=(TIME_TARGET, MEMORY_TARGET) if with_target else None,
        )


def _account_point(accounts: int, latency: float, concurrency: int, reps: int) -> list[Result]:
    with RemoteSandbox(SandboxConfig(accounts=accounts, latency=latency)) as sandbox:
        url, tokens = sandbox.url, sandbox.tokens

        def pack() -> FanoutReport:
            return asyncio.run(pack_engine(url, tokens, concurrency))

        def baseline() -> list[Any]:
            return asyncio.run(baseline_fanout(url, tokens, concurrency))

        def check(name: str, value: Any) -> None:
            done = len(value.succeeded) if isinstance(value, FanoutReport) else len(value)
            if done != accounts:
                raise RuntimeError(f"{name}: collected {done} of {accounts} accounts")

        return _pair(
            f"g. curve: fan-out, {accounts:,} accounts x {latency * 1000:.0f} ms, "
            f"concurrency {concurrency}",
            reps,
            ("pack: collect_segments", pack),
            ("baseline: asyncio + httpx + Semaphore", baseline),
            check,
            note=f"floor {accounts * latency / concurrency:.2f}s",
        )


def segment_curve(points: tuple[int, ...], reps: int) -> list[Result]:
    """Fetch + Parquet at every size in ``points``; the largest carries the target."""
    largest = max(points)
    return [
        row
        for segments in points
        for row in _segment_point(segments, reps, with_target=segments == largest)
    ]


def account_curve(
    points: tuple[int, ...], latency: float, concurrency: int, reps: int
) -> list[Result]:
    """The fan-out engine at every account count in ``points``."""
    return [
        row for accounts in points for row in _account_point(accounts, latency, concurrency, reps)
    ]
