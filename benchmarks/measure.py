"""How the benchmarks measure: medians of alternating repetitions, and peak memory.

Pack and baseline run alternately (ABAB, then BABA) so a machine that slows down during the
run slows both. Peak memory is what ``tracemalloc`` sees of Python allocations plus the peak
of a fresh Arrow memory pool (Arrow's buffers live outside Python's allocator).
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Result:
    """One row of the table: a variant of a case, with medians and ratios to the baseline."""

    case: str
    variant: str
    seconds: float | None = None
    cpu_seconds: float | None = None
    peak_mb: float | None = None
    time_ratio: float | None = None
    memory_ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""
    samples: list[float] = field(default_factory=list)


@dataclass
class Timing:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def timed(run: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall and CPU seconds of one call, after a garbage collection so none lands inside."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    value = run()
    return time.perf_counter() - wall, time.process_time() - cpu, value


def alternate(
    reps: int,
    variants: dict[str, Callable[[], Any]],
    check: Callable[[str, Any], None],
    pause: float = 0.0,
) -> dict[str, Timing]:
    """Run every variant ``reps`` times, in rotating order; ``check`` validates each result.

    ``pause`` seconds pass (untimed) before each run, so a Prefect server still working off
    the previous run's events does not slow the next one down.
    """
    timings = {name: Timing() for name in variants}
    names = list(variants)
    for rep in range(reps):
        order = names if rep % 2 == 0 else names[::-1]
        for name in order:
            time.sleep(pause)
            wall, cpu, value = timed(variants[name])
            check(name, value)
            del value
            timings[name].wall.append(wall)
            timings[name].cpu.append(cpu)
    return timings


def peak_megabytes(run: Callable[[], Any]) -> float:
    """Peak memory of one call: Python allocations (tracemalloc) plus Arrow's buffers."""
    import pyarrow as pa

    previous_pool = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(previous_pool)
    pa.set_memory_pool(pool)
    gc.collect()
    tracemalloc.start()
    try:
        value = run()
        _, python_peak = tracemalloc.get_traced_memory()
        del value
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(previous_pool)
    return (python_peak + int(pool.max_memory())) / 1e6


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or not baseline:
        return None
    return value / baseline


def timed_row(case: str, variant: str, timing: Timing, **fields: Any) -> Result:
    """One variant's row: its median wall and CPU seconds and every sample, plus ``fields``."""
    return Result(
        case=case,
        variant=variant,
        seconds=timing.median,
        cpu_seconds=timing.cpu_median,
        samples=timing.wall,
        **fields,
    )


def paired_rows(
    case: str,
    pack: str,
    baseline: str,
    timings: dict[str, Timing],
    memory: dict[str, float],
    *,
    targets: tuple[float, float] | None = None,
    notes: dict[str, str] | None = None,
) -> list[Result]:
    """The pack's row (ratios to the baseline, and ``targets`` = time, memory if given), then
    the baseline's row."""
    notes = notes or {}
    time_ratio = ratio(timings[pack].median, timings[baseline].median)
    memory_ratio = ratio(memory[pack], memory[baseline])
    target, met = "", None
    if targets is not None:
        target = f"<= {targets[0]}x time, <= {targets[1]}x memory"
        met = (time_ratio or 0) <= targets[0] and (memory_ratio or 0) <= targets[1]

    def row(name: str, **ratios: Any) -> Result:
        return timed_row(
            case, name, timings[name], peak_mb=memory[name], note=notes.get(name, ""), **ratios
        )

    return [
        row(pack, time_ratio=time_ratio, memory_ratio=memory_ratio, target=target, met=met),
        row(baseline),
    ]
