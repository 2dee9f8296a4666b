"""d. Import time in a fresh interpreter, two pairs measured side by side.

- the Prefect-free core (``prefect_botpenguin.core.client``) against ``import httpx, pydantic``,
  what any HTTP client built on the same libraries pays (target <= 1.3x);
- the pack's tasks (``from prefect_botpenguin import fetch_segments``) against
  ``import prefect`` (target <= 1.1x).

Heavy optional libraries must stay out of both: pyarrow is imported only when a Parquet file
is written, apprise only when a notification is sent.

Both baselines import less than their names suggest: ``import pydantic`` and ``import prefect``
load their top-level names lazily, so neither loads pydantic's model machinery
(``pydantic.main``) nor Prefect's flow and task engine, which a client built on pydantic
models and a library of Prefect tasks cannot do without. Each pair therefore has a third,
reference row that imports that machinery too (``from pydantic import BaseModel``,
``from prefect import flow, task``), so the table shows how much of the ratio is the pack's
own modules and how much is the machinery.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.measure import Result, Timing, ratio

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("prefect", "pyarrow", "fsspec", "apprise", "pandas")
_PROBE = """
import json, sys, time
started = time.perf_counter()
{statement}
elapsed = time.perf_counter() - started
print(json.dumps({{"seconds": elapsed, "loaded": [m for m in {heavy!r} if m in sys.modules]}}))
"""
PAIRS: list[tuple[str, str, str, str, str, str, float]] = [
    (
        "pack core: import prefect_botpenguin.core.client",
        "import prefect_botpenguin.core.client",
        "baseline: import httpx, pydantic",
        "import httpx, pydantic",
        "reference: import httpx, pydantic; from pydantic import BaseModel",
        "import httpx, pydantic; from pydantic import BaseModel",
        1.3,
    ),
    (
        "pack: from prefect_botpenguin import fetch_segments",
        "from prefect_botpenguin import fetch_segments",
        "baseline: import prefect",
        "import prefect",
        "reference: from prefect import flow, task",
        "from prefect import flow, task",
        1.1,
    ),
]


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
    """Each pair alternated ``reps`` times; the pack's row carries the ratio to its baseline."""
    if reps > 1:
        _probe("import prefect")  # warm the file-system cache, as any second start would
    case = "d. import time, fresh interpreter"
    rows: list[Result] = []
    for (
        pack,
        pack_statement,
        baseline,
        baseline_statement,
        reference,
        ref_statement,
        target,
    ) in PAIRS:
        statements = {pack: pack_statement, baseline: baseline_statement, reference: ref_statement}
        timings = {name: Timing() for name in statements}
        loaded: dict[str, list[str]] = {}
        names = list(statements)
        for rep in range(reps):
            for name in names if rep % 2 == 0 else names[::-1]:
                seconds, loaded[name] = _probe(statements[name])
                timings[name].wall.append(seconds)
        value = ratio(timings[pack].median, timings[baseline].median)
        own = ratio(timings[pack].median, timings[reference].median)
        added = sorted(set(loaded[pack]) - set(loaded[baseline]))
        rows += [
            Result(
                case=case,
                variant=pack,
                seconds=timings[pack].median,
                time_ratio=value,
                target=f"<= {target}x",
                met=value is not None and value <= target,
                note=f"heavy modules it adds: {', '.join(added) or 'none'}; "
                f"{own or 0:.2f}x the reference row",
                samples=timings[pack].wall,
            ),
            Result(
                case=case,
                variant=baseline,
                seconds=timings[baseline].median,
                note=f"heavy modules it loads: {', '.join(loaded[baseline]) or 'none'}",
                samples=timings[baseline].wall,
            ),
            Result(
                case=case,
                variant=reference,
                seconds=timings[reference].median,
                time_ratio=ratio(timings[reference].median, timings[baseline].median),
                note="the machinery the pack needs and the baseline defers; ratio to the baseline",
                samples=timings[reference].wall,
            ),
        ]
    return rows
