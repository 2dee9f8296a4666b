"""What every command shares around its flow: the terminal, Prefect, the sandbox, failures.

A command hands :func:`run` a function of the console; failures become one line on stderr
and an exit code (``--debug`` lets them out, traceback and all).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

import typer
from rich.console import Console
from rich.text import Text

from ...core.errors import BotPenguinError

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
EXIT_NOT_RUNNING = 3  # `server status`, as LSB init scripts report "not running"
EXIT_TERMINATED = 143
"""128 + the signal's number, as shells report a process that a signal stopped."""

SAMPLE = " (SAMPLE DATA from the sandbox)"
"""Appended to what a command prints when the data came from the sandbox."""

Work = Callable[[Console], int | None]


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be: asyncio and Prefect unwind both the same way,
    so temporary files are removed and runs are marked, whichever signal stopped us."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C as a KeyboardInterrupt where the main thread is, as SIGTERM's is.

    Left to asyncio's own handler, Ctrl-C only cancels the main task, and Prefect 3.4 lets a
    flow run to its end after that: the command then wrote the export and exited 0.
    """
    raise KeyboardInterrupt


_STOP_HANDLERS = {signal.SIGTERM: _raise_terminated, signal.SIGINT: _raise_interrupted}


def run(
    work: Work,
    *,
    debug: bool,
    sandbox: bool = False,
    credentials: str | None = None,
    sandbox_accounts: int | None = None,
    local_server: bool = True,
) -> None:
    """Run ``work`` as a command and exit with its code (0 when it returns None)."""
    if sandbox and credentials:
        raise typer.BadParameter("--sandbox and --credentials exclude each other")
    # Plain text everywhere: segment names and errors may hold "[...]" that rich would parse.
    console = Console(markup=False, highlight=False)
    errors = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)  # one line
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = (
        {signum: signal.signal(signum, handler) for signum, handler in _STOP_HANDLERS.items()}
        if on_main_thread
        else {}
    )
    try:
        code = _run(work, console, errors, debug, sandbox, sandbox_accounts, local_server)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    raise typer.Exit(code)


def _run(
    work: Work,
    console: Console,
    errors: Console,
    debug: bool,
    sandbox: bool,
    sandbox_accounts: int | None,
    local_server: bool,
) -> int:
    """Run ``work``; every failure becomes one line on ``errors`` and an exit code."""
    from prefect.exceptions import TerminationSignal  # Prefect's own SIGTERM, inside a run

    try:
        if not debug:
            import prefect.main  # noqa: F401  (configures Prefect's logging; then quietened)

            from ..console import hide_tracebacks

            hide_tracebacks()
        with (
            _prefect_defaults(),
            _local_server(local_server, console),
            _sandbox_environment(sandbox, console, sandbox_accounts),
        ):
            return work(console) or 0
    except (KeyboardInterrupt, TerminationSignal) as stop:
        terminated = isinstance(stop, _Terminated | TerminationSignal)
        errors.print(
            f"Stopped by {'SIGTERM' if terminated else 'Ctrl-C'}; nothing was written half-way "
            "(an export or snapshot is either complete or untouched)."
        )
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    except BotPenguinError as exc:
        if debug:
            raise
        errors.print(f"error: {exc}")
        return EXIT_FAILED
    except Exception as exc:
        if debug:
            raise
        errors.print(
            f"error: {type(exc).__name__}: {exc} (run again with --debug for details)",
        )
        return EXIT_FAILED


@contextmanager
def _prefect_defaults() -> Iterator[None]:
    """Prefect settings for a terminal run, unless the environment sets them otherwise."""
    from prefect.settings import (
        PREFECT_SERVER_ANALYTICS_ENABLED,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    # A local run needs no usage telemetry, and offline it only adds noise to the terminal.
    os.environ.setdefault(PREFECT_SERVER_ANALYTICS_ENABLED.name, "false")
    # A temporary server on a busy 2-core machine can take longer than Prefect's 20 s default.
    os.environ.setdefault(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.name, "90")
    # The environment reaches child processes (a temporary server); this process read its
    # settings when ``flows`` was imported, so they are applied to it explicitly.
    settings = (PREFECT_SERVER_ANALYTICS_ENABLED, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)
    with temporary_settings(updates={setting: os.environ[setting.name] for setting in settings}):
        yield


@contextmanager
def _local_server(enabled: bool, console: Console) -> Iterator[None]:
    """Run on the server ``botpenguin server start`` left running, unless an API is configured.

    Runs there start warm (no temporary server) and stay visible in its UI afterwards.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if not enabled or PREFECT_API_URL.value():
        yield
        return
    from ..local_server import running_server

    server = running_server()
    if server is None:
        yield
        return
    console.print(Text("Prefect:", style="bold"), f"runs on {server.ui_url} (botpenguin server)")
    with (
        _environment({PREFECT_API_URL.name: server.api_url}),
        temporary_settings(updates={PREFECT_API_URL: server.api_url}),
    ):
        yield


@contextmanager
def _environment(overrides: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a command, then restore them."""
    previous = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _sandbox_environment(
    enabled: bool, console: Console, accounts: int | None = None
) -> Iterator[None]:
    """Start the bundled sandbox and point ``BOTPENGUIN_*`` at it for this process only.

    With ``accounts``, the sandbox plays a partner with that many customer accounts, and
    ``BOTPENGUIN_API_TOKEN`` is the partner's token.
    """
    if not enabled:
        yield
        return
    from ...sandbox import SandboxServer

    server = SandboxServer.simulated(accounts) if accounts else SandboxServer()
    with server as sandbox:
        token = (sandbox.partner_token if accounts else None) or sandbox.token
        overrides = {"BOTPENGUIN_BASE_URL": sandbox.url, "BOTPENGUIN_API_TOKEN": token}
        with _environment(overrides):
            what = f"a partner with {accounts} accounts" if accounts else "SAMPLE DATA"
            console.print(
                Text("Sandbox:", style="bold yellow"),
                f"invented {what} served on {sandbox.url}; this is not a real BotPenguin account.",
            )
            yield
