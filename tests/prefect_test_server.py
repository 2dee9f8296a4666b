"""The session's Prefect test server: Prefect's harness, told to retry "database is locked" soon.

Prefect's test server keeps its database in SQLite. When a request's read-then-write
transaction meets a write of the server's own services (the event persister, the task-run
recorder: both busy right after a run ends), SQLite refuses it at once and the server answers
503, which Prefect's client retries after ``2 ** attempt`` seconds. In this suite that was a
two-second sleep in about half of the flow runs that follow another (about 45 s per worker in
``tests/flows`` alone). The server here is Prefect's app as it is, wrapped to add a
``Retry-After`` header to its 503 answers, which Prefect's client honours: the same retry, a
fraction of a second later. The clients retry eight times instead of five
(``PREFECT_CLIENT_MAX_RETRIES``, set for the whole test session by ``tests/conftest.py``), as
quick retries cover less time than Prefect's back-off did.

Each worker's server also starts from a copy of a database that another has migrated (kept
per Prefect version and user in the temporary directory): Prefect's migrations took ~6 of the
~9.5 s of CPU a start costs, paid by every worker at the same moment. The server still runs
Prefect's migrations and block registration at start, which find nothing left to do.
"""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import IO, Any
from unittest import mock

from prefect.server.api.server import SubprocessASGIServer

RETRY_AFTER_SECONDS = (0.05, 0.25)
"""How soon the client tries a refused request again (Prefect's client adds up to 20% jitter):
random, so that two requests refused together do not meet again."""

TEMPLATE_WAIT_SECONDS = 150.0
"""How long a worker waits for another to migrate the template database before it migrates
its own (a start is given 120 s)."""

Scope = dict[str, Any]


def create_app() -> Any:
    """Prefect's server app (uvicorn's ``--factory``), its 503 answers given a Retry-After."""
    from prefect.server.api.server import create_app as prefect_app

    return with_retry_after(prefect_app())


def with_retry_after(app: Any) -> Any:
    """``app`` (ASGI) with a short random ``Retry-After`` on each 503 it sends."""

    async def retry_soon(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)

        async def send_with_retry_after(message: Scope) -> None:
            if message["type"] == "http.response.start" and message["status"] == 503:
                delay = f"{random.uniform(*RETRY_AFTER_SECONDS):.2f}".encode()
                headers = [*message.get("headers", []), (b"retry-after", delay)]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_retry_after)

    return retry_soon


class RetrySoonServer(SubprocessASGIServer):
    """Prefect's subprocess test server, running :func:`create_app` instead of Prefect's,
    on a copy of a migrated database."""

    def start(self, timeout: int | None = None) -> None:
        if self.running:  # Prefect calls start() again wherever it needs a server: a no-op
            return
        import prefect
        from prefect.settings import get_current_settings

        database = _sqlite_file(get_current_settings().server.database.connection_url)
        name = f"botpenguin-prefect-{prefect.__version__}-{os.getuid()}.db"
        template = Path(tempfile.gettempdir()) / name
        with open(f"{template}.lock", "w") as lock:
            if not _lock(lock, TEMPLATE_WAIT_SECONDS):
                return super().start(timeout)  # migrate its own rather than wait longer
            if not template.exists():
                super().start(timeout)
                _keep_copy(database, template)  # one worker migrates; the others copy
                return
            shutil.copyfile(template, database)
        super().start(timeout)

    def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
        from prefect.settings import get_current_settings

        command = [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).parent)]
        command += ["--factory", f"{__name__}:create_app", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--log-level", "error", "--lifespan", "on"]
        settings = get_current_settings().to_environment_variables(exclude_unset=True)
        # As Prefect starts its own: no UI, and the ephemeral server's set of services.
        ephemeral = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1"}
        ephemeral["PREFECT__SERVER_FINAL"] = "1"
        return subprocess.Popen(command, env={**os.environ, **ephemeral, **settings})


def _lock(lock: IO[str], seconds: float) -> bool:
    """Whether this process got the exclusive lock on ``lock`` within ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)


def _sqlite_file(url: Any) -> Path:
    """The file of the harness's ``sqlite+aiosqlite:///<path>`` database URL."""
    return Path(url.get_secret_value().removeprefix("sqlite+aiosqlite:///"))


def _keep_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database, put in place whole, or none at all
    (the next worker then migrates and copies its own)."""
    partial = target.with_suffix(f".{os.getpid()}.partial")
    try:
        with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(partial)) as copy:
            live.backup(copy)
        os.replace(partial, target)
    except (OSError, sqlite3.Error):
        pass
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def prefect_test_server(startup_timeout: int) -> Iterator[None]:
    """``prefect_test_harness`` (temporary database, settings, log drain) on a RetrySoonServer."""
    import prefect.testing.utilities as harness

    with (
        mock.patch.object(harness, "SubprocessASGIServer", RetrySoonServer),
        harness.prefect_test_harness(server_startup_timeout=startup_timeout),
    ):
        yield
