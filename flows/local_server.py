"""``botpenguin server start|stop|status``: one local Prefect server that terminal runs reuse.

Without ``PREFECT_API_URL`` every ``botpenguin`` command would start Prefect's temporary
server (about 12 s) and lose its runs when it exits. ``start`` runs ``prefect server start``
detached, on loopback, with its log, pid and URL under ``$PREFECT_HOME/botpenguin-server/``;
while it answers, commands point ``PREFECT_API_URL`` at it, so they start warm and their runs
and artifacts stay in its UI. The database is Prefect's usual one in ``PREFECT_HOME``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from ..core.errors import BotPenguinError

DEFAULT_PORT = 4200
HOST = "127.0.0.1"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
STATE_FILE = "server.json"
PID_FILE = "server.pid"
LOG_FILE = "server.log"


class LocalServerError(BotPenguinError):
    """The local Prefect server could not be started or stopped; the message says why."""


@dataclass(frozen=True)
class LocalServer:
    """Where a server started by ``botpenguin server start`` listens, and its process."""

    pid: int
    port: int
    log: str

    @property
    def ui_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"


def state_dir() -> Path:
    """``$PREFECT_HOME/botpenguin-server``: the user's Prefect home, so any folder finds it."""
    from prefect.settings import PREFECT_HOME

    return Path(PREFECT_HOME.value()).expanduser() / "botpenguin-server"


def _read_state(directory: Path) -> LocalServer | None:
    try:
        data = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        return LocalServer(pid=int(data["pid"]), port=int(data["port"]), log=str(data["log"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_state(directory: Path, server: LocalServer) -> None:
    (directory / PID_FILE).write_text(f"{server.pid}\n", encoding="utf-8")
    (directory / STATE_FILE).write_text(json.dumps(asdict(server)), encoding="utf-8")


def _clear_state(directory: Path) -> None:
    for name in (STATE_FILE, PID_FILE):
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


def _is_prefect_server(pid: int) -> bool:
    """Guard against a recycled pid: only a ``prefect server`` process is ever signalled."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return _alive(pid)  # no /proc: trust the pid file
    return b"prefect" in command and b"server" in command


def _healthy(server: LocalServer, timeout: float = 2.0) -> bool:
    try:
        response = httpx.get(f"{server.api_url}/health", timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def running_server() -> LocalServer | None:
    """The server ``start`` left running, if it still answers; a dead one's files are removed."""
    directory = state_dir()
    server = _read_state(directory)
    if server is None:
        return None
    if not _alive(server.pid):
        _clear_state(directory)
        return None
    return server if _healthy(server) else None


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _log_tail(path: Path, lines: int = 3) -> str:
    with contextlib.suppress(OSError):
        tail = [line.strip() for line in path.read_text(errors="replace").splitlines()]
        return " | ".join(line for line in tail[-lines:] if line)
    return ""


def start(port: int = DEFAULT_PORT, timeout: float = START_TIMEOUT) -> tuple[LocalServer, bool]:
    """Start the server detached and wait until it answers; ``(server, started_now)``."""
    existing = running_server()
    if existing is not None:
        return existing, False
    directory = state_dir()
    previous = _read_state(directory)
    if previous is not None and _alive(previous.pid):
        raise LocalServerError(
            f"A server started earlier (pid {previous.pid}) is running but not answering on "
            f"{previous.ui_url}; run `botpenguin server stop` first."
        )
    if not _port_free(port):
        raise LocalServerError(
            f"Port {port} on {HOST} is in use; choose another with `botpenguin server start "
            "--port N`."
        )
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / LOG_FILE
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)  # the server serves the API; it does not call one
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", HOST]
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
            [*command, "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # survives this command; stop signals its whole group
        )
    server = LocalServer(pid=process.pid, port=port, log=str(log))
    _write_state(directory, server)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _clear_state(directory)
            raise LocalServerError(
                f"The Prefect server exited during startup (code {process.returncode}); "
                f"see {log}: {_log_tail(log)}"
            )
        if _healthy(server):
            return server, True
        time.sleep(0.5)
    _terminate(server)
    _clear_state(directory)
    raise LocalServerError(
        f"The Prefect server did not answer within {timeout:.0f} s and was stopped; see {log}, "
        "or try again with a longer --timeout."
    )


def _terminate(server: LocalServer) -> None:
    """SIGTERM to the server's process group, then SIGKILL if it outlives ``STOP_TIMEOUT``."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(server.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(server.pid):
                return
            time.sleep(0.2)


def stop() -> LocalServer | None:
    """Stop the server ``start`` left running; the one stopped, or ``None`` if there was none."""
    directory = state_dir()
    server = _read_state(directory)
    if server is None:
        return None
    if not (_alive(server.pid) and _is_prefect_server(server.pid)):
        _clear_state(directory)  # it is gone already: only its files were left
        return None
    _terminate(server)
    if _alive(server.pid):
        raise LocalServerError(
            f"The Prefect server (pid {server.pid}) did not stop; end it with `kill -9 "
            f"{server.pid}`."
        )
    _clear_state(directory)
    return server
