"""The session's Prefect test server: Prefect's harness, told to retry "database is locked" soon.

Prefect's test server keeps its database in SQLite. When a request's read-then-write
transaction meets a write of the server's own services (the event persister, the task-run
recorder: both busy right after a run ends), SQLite refuses it at once and the server answers
503, which Prefect's client retries after ``2 ** attempt`` seconds. In this suite that was a
two-second sleep in about half of the flow runs that follow another (about 45 s per worker in
``tests/flows`` alone). The server here is Prefect's app as it is, wrapped to add a
``Retry-After`` header to its 503 answers, which Prefect's client honours: the same retry, a
fraction of a second later. Nothing else about the server or the client changes.

Each worker's server also starts from a copy of a database that another has migrated (kept
per Prefect version in the temporary directory): Prefect's migrations took ~6 of the ~9.5 s
of CPU a start costs, paid by every worker at the same moment.
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
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from prefect.server.api.server import SubprocessASGIServer

RETRY_AFTER_SECONDS = (0.05, 0.25)
"""How soon the client tries a refused request again: random, so that two requests refused
together do not meet again."""

CLIENT_RETRIES = 20
"""Retries of a 503 by this process's Prefect clients: twenty quick ones, where Prefect's
default five were 2, 4, 8, 16 and 32 s apart (only the harness's own clients: the e2e tier's
processes keep Prefect's default)."""

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
                message = {**message, "headers": [*message["headers"], (b"retry-after", delay)]}
            await send(message)

        await app(scope, receive, send_with_retry_after)

    return retry_soon


class RetrySoonServer(SubprocessASGIServer):
    """Prefect's subprocess test server, running :func:`create_app` instead of Prefect's,
    on a copy of a migrated database."""

    def start(self, timeout: int | None = None) -> None:
        import prefect
        from prefect.settings import get_current_settings

        database = _sqlite_file(get_current_settings().server.database.connection_url)
        template = Path(tempfile.gettempdir()) / f"botpenguin-prefect-{prefect.__version__}.db"
        with open(f"{template}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one worker migrates; the others wait, then copy
            if not template.exists():
                super().start(timeout)
                _copy_database(database, template)
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


def _sqlite_file(url: Any) -> Path:
    """The file of the harness's ``sqlite+aiosqlite:///<path>`` database URL."""
    return Path(url.get_secret_value().removeprefix("sqlite+aiosqlite:///"))


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database, put in place whole."""
    partial = target.with_suffix(f".{os.getpid()}.partial")
    with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(partial)) as copy:
        live.backup(copy)
    os.replace(partial, target)


@contextmanager
def prefect_test_server(startup_timeout: int) -> Iterator[None]:
    """``prefect_test_harness`` (temporary database, settings, log drain) on a RetrySoonServer."""
    import prefect.testing.utilities as harness
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    with (
        temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: CLIENT_RETRIES}),
        mock.patch.object(harness, "SubprocessASGIServer", RetrySoonServer),
        harness.prefect_test_harness(server_startup_timeout=startup_timeout),
    ):
        yield
