"""The commands about Prefect itself: ``serve``, ``automations apply`` and ``server``."""

from __future__ import annotations

import asyncio
from typing import Any

import typer
from rich.console import Console

from . import options as o
from .session import EXIT_NOT_RUNNING, run

automations = typer.Typer(
    help="Create or update, by name, Prefect automations on the configured server "
    "(PREFECT_API_URL or `botpenguin server`): a message through a notification block when "
    "an account's segments change (and, with --swing N, when an audience swings past N%), "
    "a message when a sync run fails, and a watch or sync "
    "run that stops sending heartbeats marked Crashed. Applying again changes nothing; "
    "events: deployments/EVENTS.md.",
    short_help="create or update, by name, the Prefect automations around the flows",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
)
server = typer.Typer(
    help="A local Prefect server in the background: while it runs and PREFECT_API_URL is "
    "unset, every botpenguin command runs on it (no temporary server per command) and its "
    "runs and artifacts stay in its UI. `status` exits 3 when none is running.",
    short_help="start, stop or locate a local Prefect server that later commands reuse",
    add_completion=False,
    rich_markup_mode=None,
)


def serve(debug: o.Debug = False) -> None:
    """serve every deployment of the bundled prefect.yaml from this process (no worker)"""

    def work(console: Console) -> int:
        from ...deployments.serve import main as serve_all

        return serve_all([])

    run(work, debug=debug)


@automations.command("apply", short_help="create or update them; --dry-run prints, changes nothing")
def apply(
    notify: o.NotifyBlock = None,
    account: o.NotifyAccount = None,
    swing: o.Swing = None,
    dry_run: o.DryRun = False,
    debug: o.Debug = False,
) -> None:
    """Create or update the automations; with --dry-run, only say what would change."""

    def work(console: Console) -> None:
        from prefect.settings import PREFECT_API_URL

        from ...automations import apply_automations, notification_block_id, wanted_automations
        from ...core.errors import ConfigurationError

        if not PREFECT_API_URL.value():
            raise ConfigurationError(
                "Automations live on a Prefect server, and none is configured (a temporary "
                "one would forget them): set PREFECT_API_URL, or run `botpenguin server "
                "start` first."
            )

        async def apply_all() -> list[Any]:
            block = await notification_block_id(notify) if notify else None
            return await apply_automations(
                wanted_automations(block, account=account, swing=swing), dry_run=dry_run
            )

        verbs = {"created": "would create", "updated": "would update", "unchanged": "unchanged"}
        for applied in asyncio.run(apply_all()):
            verb = verbs[applied.outcome] if dry_run else applied.outcome
            what = f" ({', '.join(applied.changed)})" if applied.changed else ""
            ident = f" [{applied.id}]" if applied.id else ""
            console.print(f"{verb}: {applied.name}{what}{ident}", soft_wrap=True)
        if not notify:
            console.print(
                "Skipped the notification automations: pass --notify BLOCK_NAME (a saved "
                "notification block) to add them.",
                soft_wrap=True,
            )

    run(work, debug=debug)


@server.command("start", short_help="start one in the background, or find the running one")
def start(port: o.Port = 4200, timeout: o.Timeout = 120.0, debug: o.Debug = False) -> None:
    """Start the server in the background, or find the one already running."""

    def work(console: Console) -> None:
        from prefect.settings import PREFECT_API_URL

        from ..local_server import start as start_server

        started_server, started = start_server(port=port, timeout=timeout)
        state = "Started" if started else "Already running:"
        configured = PREFECT_API_URL.value()
        reuse = (
            f"PREFECT_API_URL is set, so commands keep using {configured}; unset it to use "
            "this server"
            if configured
            else "botpenguin commands now run on it while PREFECT_API_URL is unset"
        )
        console.print(
            f"{state} Prefect server on {started_server.ui_url} (pid {started_server.pid}; "
            f"log {started_server.log}). {reuse}; `botpenguin server stop` stops it.",
            soft_wrap=True,
        )

    run(work, debug=debug, local_server=False)


@server.command("stop", short_help="stop the one `botpenguin server start` started")
def stop(debug: o.Debug = False) -> None:
    """Stop the server that `botpenguin server start` started."""

    def work(console: Console) -> None:
        from ..local_server import stop as stop_server

        stopped = stop_server()
        console.print(
            f"Stopped the Prefect server on {stopped.ui_url} (pid {stopped.pid})."
            if stopped
            else "No botpenguin Prefect server was running."
        )

    run(work, debug=debug, local_server=False)


@server.command("status", short_help="print where it runs; exit 3 when none is running")
def status(debug: o.Debug = False) -> None:
    """Print where the server runs; exit 3 when none is running."""

    def work(console: Console) -> int:
        from ..local_server import running_server

        running = running_server()
        if running is None:
            console.print("No botpenguin Prefect server is running; `botpenguin server start`.")
            return EXIT_NOT_RUNNING
        console.print(
            f"Running: UI {running.ui_url}, API {running.api_url}, pid {running.pid}, "
            f"log {running.log}",
            soft_wrap=True,
        )
        return 0

    run(work, debug=debug, local_server=False)
