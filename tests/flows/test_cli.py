"""``botpenguin report`` as a user runs it: a subprocess, real HTTP, real Prefect."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prefect_readback import latest_artifact, table_rows

from prefect_botpenguin.core.size_history import (
    SizeHistory,
    append_sizes,
    history_location,
    write_history,
)
from prefect_botpenguin.flows.cli import main
from prefect_botpenguin.sandbox import Fault, SandboxServer
from prefect_botpenguin.snapshots import DEFAULT_STATE_DIR

BOTPENGUIN = str(Path(sys.executable).with_name("botpenguin"))
"""The console script ``pip install`` puts beside the interpreter."""

# Each test runs the console script in a second interpreter (some start their own ephemeral
# Prefect server): the e2e tier, by the marker's definition.
pytestmark = [pytest.mark.integration, pytest.mark.e2e]
WRONG_TOKEN = "0badc0de0badc0de0badc0de"
MALFORMED_TOKEN = "not-an-objectid-token-xyz"


def run_cli(
    *args: str, tmp_path: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the command line in a fresh interpreter with a private Prefect home."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BOTPENGUIN_", "PREFECT_"))}
    clean.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        COLUMNS="120",
        **(env or {}),
    )
    return subprocess.run(
        [BOTPENGUIN, *args],
        capture_output=True,
        text=True,
        env=clean,
        cwd=tmp_path,
        timeout=timeout,
        check=False,
    )


def api_env(
    sandbox: SandboxServer, prefect_api_url: str, token: str | None = None
) -> dict[str, str]:
    return {
        "BOTPENGUIN_BASE_URL": sandbox.url,
        "BOTPENGUIN_API_TOKEN": token or sandbox.token,
        "PREFECT_API_URL": prefect_api_url,
    }


def test_report_sandbox_prints_labelled_sample_segments_on_ephemeral_prefect(
    tmp_path: Path,
) -> None:
    result = run_cli("report", "--sandbox", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "SAMPLE DATA" in result.stdout
    assert "Clientes de São Paulo" in result.stdout
    assert "6 segment(s)." in result.stdout
    assert "Traceback" not in result.stderr


def test_report_of_a_huge_account_caps_the_terminal_and_the_table_artifact(
    tmp_path: Path, sandbox: SandboxServer, prefect_api_url: str
) -> None:
    count = 6_000
    sandbox.set_segments(
        [{"_id": f"{n:024x}", "segmentName": f"Segment {n}"} for n in range(count)],
        token=sandbox.token,
    )
    account = f"huge-{uuid.uuid4().hex[:8]}"
    env = {**api_env(sandbox, prefect_api_url), "BOTPENGUIN_ACCOUNT": account}

    result = run_cli("report", tmp_path=tmp_path, env=env)

    assert result.returncode == 0, result.stderr
    assert "showing the first 200 of 6000; use `botpenguin export` for all" in result.stdout
    assert "Segment 199" in result.stdout
    assert "Segment 200" not in result.stdout
    assert len(result.stdout) < 50_000
    table = asyncio.run(latest_artifact(f"botpenguin-segments-{account}"))
    assert len(table_rows(table)) == 5_000
    assert "showing the first 5000 of 6000; use `botpenguin export` for all" in str(
        table.description
    )
    summary = asyncio.run(latest_artifact(f"botpenguin-segments-{account}-summary")).data
    assert "The table shows the first 5000 of 6000" in str(summary)


def test_report_survives_503_then_429_retry_after(
    tmp_path: Path, sandbox: SandboxServer, prefect_api_url: str
) -> None:
    sandbox.inject(Fault.status_code(503), Fault.retry_after(429, "1"))
    result = run_cli("report", tmp_path=tmp_path, env=api_env(sandbox, prefect_api_url))
    assert result.returncode == 0, result.stderr
    assert sandbox.request_count == 3
    second, third = sandbox.requests[1], sandbox.requests[2]
    assert (second.status, third.status) == (429, 200)
    assert third.at - second.at >= 1.0
    assert "HTTP 503; retry 1 of 3" in result.stderr
    assert "HTTP 429; retry 2 of 3 in 1.00s" in result.stderr


@pytest.mark.parametrize(
    ("token", "expected"),
    [(WRONG_TOKEN, "rejected the API token (HTTP 401"), (MALFORMED_TOKEN, "malformed")],
    ids=["401", "400-token-format"],
)
def test_report_with_a_bad_token_fails_once_with_one_line(
    tmp_path: Path, sandbox: SandboxServer, prefect_api_url: str, token: str, expected: str
) -> None:
    result = run_cli("report", tmp_path=tmp_path, env=api_env(sandbox, prefect_api_url, token))
    assert result.returncode == 1
    assert sandbox.request_count == 1
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert expected in error_lines[0]
    assert "BOTPENGUIN_API_TOKEN" in error_lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert token not in result.stderr + result.stdout


def test_debug_shows_the_traceback(
    tmp_path: Path, sandbox: SandboxServer, prefect_api_url: str
) -> None:
    env = api_env(sandbox, prefect_api_url, WRONG_TOKEN)
    result = run_cli("report", "--debug", tmp_path=tmp_path, env=env)
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert WRONG_TOKEN not in result.stderr + result.stdout


def test_unreachable_host_is_one_line(tmp_path: Path, prefect_api_url: str) -> None:
    env = {
        "BOTPENGUIN_BASE_URL": "http://127.0.0.1:9",  # discard port: nothing listens
        "BOTPENGUIN_API_TOKEN": WRONG_TOKEN,
        "BOTPENGUIN_MAX_ATTEMPTS": "1",
        "PREFECT_API_URL": prefect_api_url,
    }
    result = run_cli("report", tmp_path=tmp_path, env=env)
    assert result.returncode == 1
    assert "error: Cannot connect to BotPenguin at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_token_is_reported_before_any_request(
    tmp_path: Path, sandbox: SandboxServer, prefect_api_url: str
) -> None:
    env = {"BOTPENGUIN_BASE_URL": sandbox.url, "PREFECT_API_URL": prefect_api_url}
    result = run_cli("report", tmp_path=tmp_path, env=env)
    assert result.returncode == 1
    assert "error: No BotPenguin API token configured" in result.stderr
    assert sandbox.request_count == 0


def test_sandbox_and_credentials_exclude_each_other(tmp_path: Path) -> None:
    result = run_cli("report", "--sandbox", "--credentials", "x", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "exclude each other" in result.stderr


def test_history_exports_what_the_watch_recorded_and_refuses_without_history(
    tmp_path: Path, prefect_api_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    history = SizeHistory(account="Larkspur")
    for hour, size in enumerate([412, 470, 530]):
        history = append_sizes(history, {"vip": size}, at + timedelta(hours=hour))
    write_history(history, history_location(str(tmp_path / DEFAULT_STATE_DIR), "Larkspur"))
    env = {"PREFECT_API_URL": prefect_api_url}

    result = run_cli(
        "history", "--to", "out/sizes.csv", "--account", "Larkspur", tmp_path=tmp_path, env=env
    )

    assert result.returncode == 0, result.stderr
    written = tmp_path / "out" / "sizes.csv"
    assert f"Wrote 3 size point(s) as CSV to {written}" in result.stdout
    rows = written.read_text(encoding="utf-8").splitlines()
    assert rows == [
        "id,name,at,size,source",
        "vip,,2026-12-01T09:00:00Z,412,api",
        "vip,,2026-12-01T10:00:00Z,470,api",
        "vip,,2026-12-01T11:00:00Z,530,api",
    ]

    # The refusal in-process (the same command, minus a second interpreter's start-up).
    state = str(tmp_path / DEFAULT_STATE_DIR)
    code = main(["history", "--to", str(written), "--account", "Other", "--state", state])
    err = capsys.readouterr().err
    assert code == 1
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: No size history for account 'Other' in {state}/other.history.json yet: the "
        "watch records one point per run (botpenguin watch). Nothing was written."
    ]
    assert "Traceback" not in err
    assert written.read_text(encoding="utf-8").splitlines() == rows, "previous export kept"
