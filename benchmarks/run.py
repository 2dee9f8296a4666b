"""``python -m benchmarks``: run every case, print the table, write BENCHMARKS.md.

Each case starts its own sandbox in a child process and measures pack and baseline in the
same run, alternately. The flow rows need a Prefect API: by default a temporary local server
(``prefect_test_harness``), so no run lands on a real server; ``--prefect current`` uses the
configured one (the CI smoke test passes its test server), ``--prefect skip`` leaves them out.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from benchmarks.measure import Result
from benchmarks.shardpool import PoolSizes

ROOT = Path(__file__).resolve().parents[1]
NOTES = Path(__file__).with_name("NOTES.md")


@dataclass(frozen=True)
class Sizes:
    """How big each case runs. The defaults are the quick sizes (``--quick``, the CI smoke
    run); ``FULL`` names what a published run changes."""

    accounts: int = 40  # a. fan-out accounts, e. partner customers
    latency: float = 0.02  # the sandbox's answer delay, seconds
    concurrency: int = 8
    reps: int = 1
    flow_reps: int = 1
    segments: int = 2_000  # b., e., f. one account's segments
    import_reps: int = 1
    flow_pause: float = 0.0  # untimed seconds before each flow run: the server catches up
    curve_segments: tuple[int, ...] = (200, 1_000)  # g.
    curve_accounts: tuple[int, ...] = (10, 40)  # g.
    curve_reps: int = 1
    members: tuple[int, int] = (2_000, 500)  # h. audience sizes: large, small
    pool: PoolSizes | None = None  # i. work pool; None: skipped (it starts a whole stack)


QUICK = Sizes()
FULL = Sizes(
    accounts=500,
    latency=0.1,
    concurrency=20,
    reps=5,
    flow_reps=3,
    segments=20_000,
    import_reps=7,
    flow_pause=8.0,
    curve_segments=(1_000, 10_000, 100_000, 300_000),
    curve_accounts=(100, 1_000, 5_000),
    curve_reps=3,
    members=(100_000, 10_000),
    pool=PoolSizes(accounts=40, segments=2, contacts=5_000, small_accounts=20),
)
CURVES = "g. curve"


@contextlib.contextmanager
def _prefect_api(mode: str) -> Iterator[None]:
    if mode == "own":
        from prefect.testing.utilities import prefect_test_harness

        with prefect_test_harness(server_startup_timeout=120):
            yield
    else:
        yield


def run(sizes: Sizes, prefect: str, curves: bool = False) -> list[Result]:
    """Every case at ``sizes``; flow rows only when a Prefect API is available."""
    from benchmarks.curves import account_curve, segment_curve
    from benchmarks.fanout import engine_rows, flow_rows
    from benchmarks.imports import import_rows
    from benchmarks.members import member_rows
    from benchmarks.peer import one_account_rows, partner_rows
    from benchmarks.processes import process_rows
    from benchmarks.sandbox_process import RemoteSandbox, SandboxConfig
    from benchmarks.shardpool import pool_rows
    from benchmarks.single import export_rows, fetch_rows

    results: list[Result] = []
    started = time.perf_counter()

    def step(what: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {what}", file=sys.stderr, flush=True)

    fanout = SandboxConfig(accounts=sizes.accounts, latency=sizes.latency)
    with RemoteSandbox(fanout) as sandbox:
        args = (sizes.accounts, sizes.latency, sizes.concurrency)
        step("a. fan-out engine vs baseline")
        results += engine_rows(*args, sizes.reps, sandbox)
        if prefect != "skip":
            with _prefect_api(prefect):
                step("a. fan-out as Prefect flows")
                results += flow_rows(*args, sizes.flow_reps, sandbox, sizes.flow_pause)
        with tempfile.TemporaryDirectory(prefix="botpenguin-bench-") as directory:
            step("e. peer: partner fan-out, pack vs dlt")
            peer = partner_rows(
                sizes.accounts, sizes.concurrency, sizes.reps, sandbox, Path(directory)
            )
    one = SandboxConfig(accounts=1, segments_per_account=sizes.segments)
    with RemoteSandbox(one) as sandbox:
        step("b. fetch + parse")
        rows, segments, records = fetch_rows(sizes.segments, sizes.reps, sandbox)
        results += rows
        with tempfile.TemporaryDirectory(prefix="botpenguin-bench-") as directory:
            step("e. peer: one account, pack vs dlt")
            peer = one_account_rows(sizes.segments, sizes.reps, sandbox, Path(directory)) + peer
        with tempfile.TemporaryDirectory(prefix="botpenguin-bench-") as directory:
            step("f. whole processes (starts a botpenguin server)")
            whole = process_rows(
                sizes.segments, sizes.flow_reps, sandbox, Path(directory), prefect != "skip"
            )
    with tempfile.TemporaryDirectory(prefix="botpenguin-bench-") as directory:
        step("c. exports")
        results += export_rows(segments, records, sizes.reps, Path(directory))
    step("d. import time")
    results += import_rows(sizes.import_reps)
    results += peer + whole
    if curves:
        step("g. scaling curves: fetch + Parquet")
        results += segment_curve(sizes.curve_segments, sizes.curve_reps)
        step("g. scaling curves: fan-out engine")
        results += account_curve(
            sizes.curve_accounts, sizes.latency, sizes.concurrency, sizes.curve_reps
        )
    with tempfile.TemporaryDirectory(prefix="botpenguin-bench-") as directory:
        step("h. segment members")
        results += member_rows(sizes.members, sizes.reps, Path(directory))
    if sizes.pool is None:
        step("i. work pool: skipped in --quick (a server, a deployment and workers: minutes)")
    elif prefect != "skip":
        with tempfile.TemporaryDirectory(prefix="botpenguin-bench-") as directory:
            step("i. members fan-out over a work pool (a botpenguin server and workers)")
            results += pool_rows(sizes.pool, sizes.flow_reps, Path(directory))
    step("done")
    return results


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        total_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{total_kb / 1e6:.1f} GB RAM"
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    names = ("prefect", "httpx", "pydantic", "pyarrow", "dlt")
    packages = ", ".join(f"{p} {version(p)}" for p in names)
    return {
        "Machine": f"{cpu}; {os.cpu_count()} CPU(s); {memory}",
        "System": f"{platform.platform()}; Python {platform.python_version()}",
        "Packages": packages,
        "Load average at start (1, 5, 15 min)": load,
    }


def _cell(value: float | None, unit: str = "") -> str:
    return "" if value is None else f"{value:.3f}{unit}" if unit == "s" else f"{value:.2f}{unit}"


def _range(samples: list[float]) -> str:
    return f"{min(samples):.2f}-{max(samples):.2f}s" if len(samples) > 1 else ""


def _met(result: Result) -> str:
    return "" if result.met is None else "yes" if result.met else "**no**"


def table_lines(results: list[Result]) -> list[str]:
    header = (
        "| Case | Variant | Median wall | Range | Median CPU | Peak memory | Time ratio "
        "| Memory ratio | Target | Met | Notes |"
    )
    lines = [header, "|---|---|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r.case} | {r.variant} | {_cell(r.seconds, 's')} | {_range(r.samples)} "
            f"| {_cell(r.cpu_seconds, 's')} "
            f"| {_cell(r.peak_mb, ' MB')} | {_cell(r.time_ratio, 'x')} "
            f"| {_cell(r.memory_ratio, 'x')} | {r.target} | {_met(r)} | {r.note} |"
        )
    return lines


def markdown(results: list[Result], sizes: Sizes, quick: bool, info: dict[str, str]) -> str:
    has_curves = any(r.case.startswith(CURVES) for r in results)
    command = "uv run python -m benchmarks" + (" --quick" if quick else "")
    if quick and has_curves:
        command += " --curves"
    if not quick and not has_curves:
        command += " --no-curves"
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. "
        "Every ratio is pack / baseline, both measured in this run on the same sandbox "
        f"(a child process on loopback); medians of {sizes.reps} repetitions "
        f"({sizes.flow_reps} for the flow rows, {sizes.import_reps} for imports), "
        "pack and baseline alternating.",
        "",
        *[f"- **{key}:** {value}" for key, value in info.items()],
        "",
        *table_lines([r for r in results if not r.case.startswith(CURVES)]),
        "",
    ]
    curve_rows = [r for r in results if r.case.startswith(CURVES)]
    if curve_rows:
        lines += [
            "## Scaling curves",
            "",
            f"Medians of {sizes.curve_reps} repetitions per size, each size on a sandbox of "
            "its own. The largest fetch + Parquet point carries the lean-data-path target "
            "(time <= 1.3x, peak memory <= 1.2x the baseline).",
            "",
            *table_lines(curve_rows),
            "",
        ]
    if NOTES.exists():
        lines += [NOTES.read_text(encoding="utf-8").rstrip(), ""]
    return "\n".join(lines)


def print_table(results: list[Result]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="prefect-botpenguin benchmarks", title_justify="left")
    for name in ("Case", "Variant", "Wall s", "CPU s", "Peak MB", "x time", "x mem", "Met"):
        table.add_column(name, justify="left" if name in ("Case", "Variant") else "right")
    for r in results:
        table.add_row(
            r.case,
            r.variant,
            _cell(r.seconds, "s"),
            _cell(r.cpu_seconds, "s"),
            _cell(r.peak_mb),
            _cell(r.time_ratio, "x"),
            _cell(r.memory_ratio, "x"),
            _met(r).strip("*"),
        )
    Console(width=200).print(table)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Benchmark the pack against plain baselines."
    )
    parser.add_argument("--quick", action="store_true", help="reduced sizes (the CI smoke run)")
    parser.add_argument(
        "--output",
        type=Path,
        help="markdown file to write (default: BENCHMARKS.md, or none with --quick)",
    )
    parser.add_argument(
        "--prefect",
        choices=("own", "current", "skip"),
        default="own",
        help="Prefect API for the flow rows: a temporary local server (default), the "
        "configured one, or skip those rows",
    )
    parser.add_argument(
        "--curves",
        action="store_true",
        help="with --quick, add the scaling curves (g) at tiny sizes; a full run always "
        "has them (1k-300k segments, 100-5,000 accounts)",
    )
    parser.add_argument(
        "--no-curves",
        action="store_true",
        help="leave the scaling curves out of a full run (saves about 10 minutes)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    curves = args.curves if args.quick else not args.no_curves
    info = machine()
    results = run(sizes, args.prefect, curves)
    print_table(results)
    output = args.output or (None if args.quick else ROOT / "BENCHMARKS.md")
    if output is not None:
        output.write_text(markdown(results, sizes, args.quick, info), encoding="utf-8")
        print(f"Wrote {output}")
    return 0
