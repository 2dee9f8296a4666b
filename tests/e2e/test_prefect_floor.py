"""The oldest supported Prefect, for real: a server and a process worker of the floor version.

Run by ``.ci/prefect-floor`` inside its floor environment; skipped anywhere else (the other
e2e modules cover the locked newest). The README's setup runs with ``uv run`` pointed at the
floor environment (``UV_PROJECT_ENVIRONMENT``, no sync), then the same checks as on the newest
Prefect: deploy and a Quick run, artifacts, change events and the export trigger (the test
functions are imported from their modules, so one check is written once). Last, the newest
locked client (``PREFECT_FLOOR_NEWEST_PYTHON``) runs a flow and a deployment against the
floor server: the mixed-version case of docs/prefect-versions.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import prefect
import pytest
from conftest import ROOT, SETUP_ONLY, Sandbox, Stack, readme_commands
from packaging.requirements import Requirement
from test_server_sqlite import (
    REPORT,
    test_export_triggered_through_the_api_writes_the_file,
    test_readme_run_completes_and_its_artifact_holds_the_sample_segments,
    test_report_triggered_through_the_api_publishes_the_table,
    test_watch_triggered_through_the_api_emits_change_events,
)
from test_triggers import (
    test_a_watch_that_sees_a_change_runs_the_export_once_and_sends_one_message,
)

from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS


def declared_floor() -> str:
    """The version in pyproject.toml's ``prefect>=`` requirement."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    prefect_req = next(Requirement(d) for d in project["dependencies"] if d.startswith("prefect"))
    return next(spec.version for spec in prefect_req.specifier if spec.operator == ">=")


FLOOR = declared_floor()
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        prefect.__version__ != FLOOR,
        reason=f"runs in .ci/prefect-floor's Prefect {FLOOR} env (this is {prefect.__version__})",
    ),
]
__all__ = [  # collected here too, against the floor stacks below
    "test_a_watch_that_sees_a_change_runs_the_export_once_and_sends_one_message",
    "test_export_triggered_through_the_api_writes_the_file",
    "test_readme_run_completes_and_its_artifact_holds_the_sample_segments",
    "test_report_triggered_through_the_api_publishes_the_table",
    "test_watch_triggered_through_the_api_emits_change_events",
]


def floor_stack(name: str, sandbox: Sandbox, setup_only: bool) -> Stack:
    """A stack whose ``uv run`` commands use this (the floor) environment as it is."""
    env = Path(sys.prefix)
    stack = Stack(
        name,
        sandbox,
        extra_env={"UV_PROJECT_ENVIRONMENT": str(env), "UV_NO_SYNC": "1"},
        extra_path=[env / "bin"],
    )
    for command in readme_commands("Run on a Prefect server"):
        wanted = any(command.matches(f) for f in SETUP_ONLY) if setup_only else True
        if wanted and not command.matches("botpenguin serve"):
            stack.execute(command)
    return stack


@pytest.fixture(scope="module")
def sqlite_stack(sandbox: Sandbox) -> Iterator[Stack]:
    stack = floor_stack("floor", sandbox, setup_only=False)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def fresh_stack(sandbox: Sandbox) -> Iterator[Stack]:
    stack = floor_stack("floor-triggers", sandbox, setup_only=True)
    try:
        yield stack
    finally:
        stack.stop()


def test_the_stack_runs_the_floor_prefect(sqlite_stack):
    version = sqlite_stack.api("GET", "/admin/version")
    assert version == FLOOR, f"the server is Prefect {version}, not the floor {FLOOR}"


NEWEST_CLIENT = """
import sys
from prefect import flow
from prefect.deployments import run_deployment
from prefect_botpenguin import BotPenguinCredentials, fetch_segments, publish_segments_artifact

@flow
def newest_client(base_url: str) -> int:
    credentials = BotPenguinCredentials(api_token="sandbox-token-0000-sample-data",
                                        base_url=base_url)
    segments = fetch_segments(credentials=credentials)
    publish_segments_artifact(segments, account="newest client")
    return len(segments)

print("segments", newest_client(sys.argv[1]))
run = run_deployment(sys.argv[2], parameters={"account": "newest client run"}, timeout=180)
print("deployment run", run.state.type.value)
"""


def test_the_newest_client_against_a_floor_server(sqlite_stack):
    newest = os.environ.get("PREFECT_FLOOR_NEWEST_PYTHON")
    if not newest:
        pytest.skip("PREFECT_FLOOR_NEWEST_PYTHON (set by .ci/prefect-floor) names no client")
    env = {k: v for k, v in sqlite_stack.env.items() if not k.startswith("UV_")}
    env["PREFECT_API_URL"] = sqlite_stack.api_url
    done = subprocess.run(
        [newest, "-c", NEWEST_CLIENT, sqlite_stack.sandbox.url, REPORT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f"segments {len(SAMPLE_SEGMENTS)}" in output, output
    assert "deployment run COMPLETED" in output, output
    rows = sqlite_stack.latest_rows("botpenguin-segments-newest-client")
    assert [row["id"] for row in rows] == [s["_id"] for s in SAMPLE_SEGMENTS]
