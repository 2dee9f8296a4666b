"""Acceptance on the oldest supported Prefect: the wheel keeps the Prefect a team runs.

A fresh venv gets ``prefect==<floor>`` and the built wheel in one install; the floor must
stay, a plain sync flow must get segments, and ``botpenguin report --sandbox`` must work.
FastAPI and importlib-metadata are pinned as docs/prefect-versions.md tells 3.4 users to:
Prefect 3.4 itself breaks on newer FastAPI and imports importlib-metadata undeclared.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[2]
FLOOR_EXTRAS = ("fastapi<0.120", "importlib-metadata")
USER_FLOW = textwrap.dedent(
    """\
    from prefect import flow
    from prefect_botpenguin import Segment, fetch_segments

    @flow
    def count_segments() -> int:
        segments = fetch_segments()
        assert all(isinstance(segment, Segment) for segment in segments)
        return len(segments)

    print("segments:", count_segments())
    """
)


def declared_floor() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    prefect_req = next(Requirement(d) for d in project["dependencies"] if d.startswith("prefect"))
    return next(spec.version for spec in prefect_req.specifier if spec.operator == ">=")


def run(argv: list[str | Path], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=400
    )
    assert done.returncode == 0, f"{argv} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_floor_prefect_stays_and_the_pack_works_on_it(tmp_path, sample_server, built_wheel):
    floor = declared_floor()
    wheel = built_wheel
    venv = tmp_path / "venv"
    run(["uv", "venv", venv, "--python", sys.executable], tmp_path)
    python = venv / "bin" / "python"
    run(
        ["uv", "pip", "install", "--python", python, f"prefect=={floor}", *FLOOR_EXTRAS, wheel],
        tmp_path,
    )

    kept = run([python, "-c", "import prefect; print(prefect.__version__)"], tmp_path)
    assert kept.strip() == floor

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "BOTPENGUIN_", "VIRTUAL_ENV", "UV_"))
    }
    env.update(
        PREFECT_HOME=str(tmp_path / "home"),
        # The user flow starts a temporary server; a busy 2-core runner needs more than 20 s.
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        BOTPENGUIN_BASE_URL=sample_server.url,
        BOTPENGUIN_API_TOKEN=sample_server.token,
    )
    (tmp_path / "count_segments.py").write_text(USER_FLOW)
    counted = run([python, "count_segments.py"], tmp_path, env)
    assert f"segments: {len(SAMPLE_SEGMENTS)}" in counted

    report = run([venv / "bin" / "botpenguin", "report", "--sandbox"], tmp_path, env)
    assert "SAMPLE DATA" in report
    assert f"{len(SAMPLE_SEGMENTS)} segment(s)." in report
