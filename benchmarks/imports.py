"""d. Import time: ``import tasks`` against ``import prefect``, each in a fresh interpreter.

``tasks`` imports Prefect itself, so the ratio shows what the pack adds on top. Heavy
optional libraries must stay out of ``import tasks``: pyarrow is imported only when a Parquet
file is written, apprise only when a notification is sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.measure import Result, Timing, ratio

TIME_TARGET = 1.2
ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pyarrow", "fsspec", "apprise", "pandas")
_PROBE = """
import json, sys, time
started = time.perf_counter()
{statement}
elapsed = time.perf_counter() - started
print(json.dumps({{"seconds": elapsed, "loaded": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def _probe(statement: str) -> tuple[float, list[str]]:
    completed = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", _PROBE.format(statement=statement, heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=300,
    )
    answer = json.loads(completed.stdout.strip().splitlines()[-1])
    return float(answer["seconds"]), list(answer["loaded"])


def import_rows(reps: int) -> list[Result]:
    statements = {
        "pack: import tasks": "import tasks",
        "baseline: import prefect": "import prefect",
        "reference: from prefect import flow, task": "from prefect import flow, task",
    }
    timings = {name: Timing() for name in statements}
    loaded: dict[str, list[str]] = {}
    if reps > 1:
        _probe("import prefect")  # warm the file-system cache, as any second start would
    names = list(statements)
    for rep in range(reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            seconds, loaded[name] = _probe(statements[name])
            timings[name].wall.append(seconds)
    pack, baseline, reference = names
    value = ratio(timings[pack].median, timings[baseline].median)
    added = sorted(set(loaded[pack]) - set(loaded[baseline]))
    by_prefect = ", ".join(loaded[baseline]) or "none"
    case = "d. import time, fresh interpreter"
    return [
        Result(
            case=case,
            variant=pack,
            seconds=timings[pack].median,
            time_ratio=value,
            target=f"<= {TIME_TARGET}x",
            met=value is not None and value <= TIME_TARGET,
            note=f"heavy modules it adds: {', '.join(added) or 'none'}",
            samples=timings[pack].wall,
        ),
        Result(
            case=case,
            variant=baseline,
            seconds=timings[baseline].median,
            note=f"heavy modules Prefect itself loads: {by_prefect}",
            samples=timings[baseline].wall,
        ),
        Result(
            case=case,
            variant=reference,
            seconds=timings[reference].median,
            time_ratio=ratio(timings[reference].median, timings[baseline].median),
            note="what any flow file pays: Prefect's flow and task machinery",
            samples=timings[reference].wall,
        ),
    ]
