"""``botpenguin server``: a real background Prefect server that later commands run on.

Real processes on loopback: the command line in subprocesses, a Prefect server on a free
port with its own ``PREFECT_HOME`` (database, pid and log in ``tmp_path``), always stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _botpenguin(
    env: dict[str, str], *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prefect_botpenguin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment with its own Prefect home and no configured Prefect API."""
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    for name in ("PREFECT_API_URL", "PREFECT_PROFILES_PATH", "PREFECT_PROFILE"):
        env.pop(name, None)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return env


@contextlib.contextmanager
def _always_stopped(env: dict[str, str]):  # type: ignore[no-untyped-def]
    state = Path(env["PREFECT_HOME"]) / "botpenguin-server" / "server.json"
    try:
        yield
    finally:
        pid = json.loads(state.read_text())["pid"] if state.exists() else None
        _botpenguin(env, "server", "stop", timeout=60)
        if pid is not None:  # stop failed: end the server we started, by its process group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


@pytest.mark.integration
def test_report_runs_on_the_started_server_and_its_artifact_stays_there(
    home: dict[str, str],
) -> None:
    port = _free_port()
    with _always_stopped(home):
        started = _botpenguin(home, "server", "start", "--port", str(port))
        assert started.returncode == 0, started.stderr[-2000:]
        url = f"http://127.0.0.1:{port}"
        assert f"Started Prefect server on {url}" in started.stdout

        status = _botpenguin(home, "server", "status")
        assert status.returncode == 0
        assert f"UI {url}" in status.stdout

        again = _botpenguin(home, "server", "start", "--port", str(port))
        assert again.returncode == 0
        assert "Already running:" in again.stdout

        report = _botpenguin(home, "report", "--sandbox")
        assert report.returncode == 0, report.stderr[-2000:]
        assert f"runs on {url}" in report.stdout
        assert "6 segment(s)." in report.stdout

        artifacts = httpx.post(f"{url}/api/artifacts/filter", json={}, timeout=30).json()
        tables = [a for a in artifacts if a["type"] == "table"]
        assert tables, artifacts
        rows = tables[0]["data"]
        rows = json.loads(rows) if isinstance(rows, str) else rows
        assert len(rows) == 6
        runs = httpx.post(f"{url}/api/flow_runs/filter", json={}, timeout=30).json()
        assert [run["state_type"] for run in runs] == ["COMPLETED"]

        stopped = _botpenguin(home, "server", "stop")
        assert stopped.returncode == 0
        assert f"Stopped the Prefect server on {url}" in stopped.stdout
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/api/health", timeout=5)

    after = _botpenguin(home, "server", "status")
    assert after.returncode == 3
    assert "No botpenguin Prefect server is running" in after.stdout


@pytest.mark.integration
def test_start_on_a_busy_port_says_which_port_and_starts_nothing(home: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with _always_stopped(home):
            started = _botpenguin(home, "server", "start", "--port", str(port), timeout=120)

    assert started.returncode == 1
    assert started.stderr.strip() == (
        f"error: Port {port} on 127.0.0.1 is in use; choose another with "
        "`botpenguin server start --port N`."
    )
    assert "Traceback" not in started.stderr
    assert not (Path(home["PREFECT_HOME"]) / "botpenguin-server" / "server.json").exists()


@pytest.mark.integration
def test_stale_pid_file_is_not_reused_and_stop_signals_nothing(home: dict[str, str]) -> None:
    directory = Path(home["PREFECT_HOME"]) / "botpenguin-server"
    directory.mkdir(parents=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (directory / "server.json").write_text(
        json.dumps({"pid": gone.pid, "port": _free_port(), "log": "x"}), encoding="utf-8"
    )

    status = _botpenguin(home, "server", "status", timeout=120)
    stop = _botpenguin(home, "server", "stop", timeout=120)

    assert status.returncode == 3
    assert stop.returncode == 0
    assert "No botpenguin Prefect server was running." in stop.stdout
    assert not (directory / "server.json").exists()
