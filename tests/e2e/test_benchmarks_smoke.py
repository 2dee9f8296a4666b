"""The benchmark command runs end to end at a reduced size, so it cannot rot.

Only that it completes and reports every case is checked: timings belong to BENCHMARKS.md,
never to a test (a busy CI machine must not fail the suite).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CASES = (
    "a. 40 accounts",
    "a. same, as Prefect flows",
    "a. same, task granularity",
    "b. ",
    "c. ",
    "d. import time",
    "e. peer: one account, 2,000 segments, fetch + PARQUET",
    "e. peer: one account, 2,000 segments, fetch + JSONL",
    "e. peer: partner fan-out with discovery, 40 customers, to PARQUET",
    "f. whole process: a flow from the terminal, server already running",
    "f. whole process: fetch 2,000 segments + export to PARQUET",
    "g. curve: fetch + PARQUET, 1,000 segments",
    "g. curve: fan-out, 40 accounts",
)
PEER_VARIANTS = (
    "peer: dlt rest_api -> filesystem",
    "peer: dlt rest_api (paginator + dependent resources) -> filesystem",
    "peer: python -c, dlt pipeline",
    "pack: botpenguin report --sandbox (warm botpenguin server)",
    "baseline: python -c, an empty flow on the same server",
)
MEMBER_CASES = (
    "h. members: 2,000 of one segment to CSV",
    "h. members: 2,000 of one segment to PARQUET",
    "h. members: 500 of one segment to CSV",
    "h. members: 500 of one segment to PARQUET",
    "h. members: pack peak memory, 2,000 vs 500 members",
)


@pytest.mark.integration
def test_quick_benchmark_prints_and_writes_the_table(prefect_api_url: str, tmp_path: Path) -> None:
    output = tmp_path / "BENCHMARKS.md"
    env = {**os.environ, "PREFECT_API_URL": prefect_api_url}

    completed = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks", "--quick", "--curves"),
            *("--prefect", "current", "--output", output),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "prefect-botpenguin benchmarks" in completed.stdout
    written = output.read_text(encoding="utf-8")
    assert "| Case | Variant | Median wall |" in written
    assert "**Machine:**" in written
    for case in (*CASES, *MEMBER_CASES):
        assert f"| {case}" in written, case
    for variant in PEER_VARIANTS:
        assert f"| {variant} |" in written, variant
    assert "dlt 1." in written  # the peer's version is on record
    assert "## Scaling curves" in written
    assert "pack core: import prefect_botpenguin.core.client" in written
    assert "pack: from prefect_botpenguin import fetch_segments" in written
    assert "baseline: httpx + json.loads into dicts" in written
    assert "pack: write_members_export (export_segment_members' core), parquet" in written
    assert "baseline: httpx + json.loads + pyarrow ParquetWriter" in written
