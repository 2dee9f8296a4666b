"""``botpenguin`` (also ``python -m prefect_botpenguin``): run the pack's flows from a terminal.

Commands share ``--sandbox`` (run against the bundled sample-data server), ``--credentials``
(a saved block) and ``--debug`` (show tracebacks). Failures print one line and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from rich.console import Console
from rich.text import Text

from ..core.errors import BotPenguinError
from ..core.formats import EXPORT_FORMATS, format_for

Handler = Callable[[argparse.Namespace, Console], int]
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
EXIT_NOT_RUNNING = 3  # `server status`, as LSB init scripts report "not running"
EXIT_TERMINATED = 143
"""128 + the signal's number, as shells report a process that a signal stopped."""


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be: asyncio and Prefect unwind both the same way,
    so temporary files are removed and runs are marked, whichever signal stopped us."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def _report(args: argparse.Namespace, console: Console) -> int:
    from .console import print_segments
    from .report import segments_report

    segments = asyncio.run(segments_report(credentials=args.credentials, account=args.account))
    title = "BotPenguin segments" + (" (SAMPLE DATA from the sandbox)" if args.sandbox else "")
    print_segments(console, segments, title)
    return 0


def _export(args: argparse.Namespace, console: Console) -> int:
    from .export import segments_export

    format_for(args.to, args.format)  # a bad extension fails before Prefect starts
    result = asyncio.run(
        segments_export(
            destination=args.to,
            credentials=args.credentials,
            account=args.account,
            format=args.format,
        )
    )
    sample = " of SAMPLE DATA from the sandbox" if args.sandbox else ""
    console.print(
        f"Wrote {result.count} segment(s){sample} as {result.format.upper()} to "
        f"{result.destination} ({result.size_bytes} bytes).",
        soft_wrap=True,
    )
    return 0


def _members(args: argparse.Namespace, console: Console) -> int:
    from .members import segments_members_export

    format_for(args.to, args.format)  # a bad extension fails before Prefect starts
    result = asyncio.run(
        segments_members_export(
            destination=args.to,
            credentials=args.credentials,
            account=args.account,
            segments=args.segments,
            fields=args.fields,
            format=args.format,
        )
    )
    sample = " of SAMPLE DATA from the sandbox" if args.sandbox else ""
    files = f"{len(result.files)} file(s) under " if len(result.files) != 1 else ""
    console.print(
        f"Wrote {result.count} member row(s) of {len(result.segments)} segment(s){sample} as "
        f"{result.format.upper()} to {files}{result.destination} ({result.size_bytes} bytes).",
        soft_wrap=True,
    )
    return 0


def _watch(args: argparse.Namespace, console: Console) -> int:
    from ..snapshots import DEFAULT_STATE_DIR
    from .watch import segments_watch

    result = asyncio.run(
        segments_watch(
            credentials=args.credentials,
            account=args.account,
            state=args.state or DEFAULT_STATE_DIR,
            state_filesystem=args.state_filesystem,
            notify=args.notify,
            always_notify=args.always_notify,
            members=args.members,
            accept_drop=args.accept_drop,
            reset_state=args.reset_state,
            drop_pending=args.drop_pending,
        )
    )
    sample = " (SAMPLE DATA from the sandbox)" if args.sandbox else ""
    console.print(f"{result.message.subject}{sample}")
    if result.held_drop:
        console.print(result.message.body, soft_wrap=True)
    if not result.baseline and result.changed:
        console.print(result.message.body, soft_wrap=True)
    console.print(f"Snapshot: {result.snapshot}", soft_wrap=True)
    if result.notified:
        console.print(f"Notified: {', '.join(result.notified)}")
    if result.pending:
        console.print(f"Undelivered change messages kept for the next run: {result.pending}")
    return 0


def _sync(args: argparse.Namespace, console: Console) -> int:
    from ..snapshots import DEFAULT_STATE_DIR
    from .sync import ExportStep, WatchStep, segments_sync

    if args.export:
        format_for(args.export, args.format)  # a bad extension fails before Prefect starts
    export = (
        ExportStep(enabled=True, destination=args.export, format=args.format)
        if args.export
        else ExportStep()
    )
    watch = WatchStep(
        enabled=not args.no_watch,
        state=args.state or DEFAULT_STATE_DIR,
        state_filesystem=args.state_filesystem,
        notify=args.notify or [],
        always_notify=args.always_notify,
        accept_drop=args.accept_drop,
        reset_state=args.reset_state,
        drop_pending=args.drop_pending,
    )
    result = asyncio.run(
        segments_sync(
            credentials=args.credentials,
            account=args.account,
            publish_artifacts=not args.no_artifacts,
            export=export,
            watch=watch,
        )
    )
    sample = " (SAMPLE DATA from the sandbox)" if args.sandbox else ""
    lines = [f"Synced {result.segment_count} segment(s) of {result.account}{sample}."]
    if result.artifact_key:
        lines.append(f"Artifact: {result.artifact_key}")
    if result.export:
        lines.append(f"Export: {result.export.count} segment(s) to {result.export.destination}")
    if result.watch:
        lines.append(f"Watch: {result.watch.message.subject}; snapshot {result.watch.snapshot}")
        if result.watch.notified:
            lines.append(f"Notified: {', '.join(result.watch.notified)}")
    for line in lines:
        console.print(line, soft_wrap=True)
    return 0


def _fanout(args: argparse.Namespace, console: Console) -> int:
    from ..core.errors import ConfigurationError, FanoutFailedError
    from .console import print_fanout_failures, print_fanout_report
    from .fanout import segments_fanout

    if args.sandbox and (args.credentials_blocks or args.partner_credentials):
        raise ConfigurationError(
            "--sandbox collects its simulated accounts; drop --credentials-blocks and "
            "--partner-credentials, or drop --sandbox."
        )
    if args.export:
        format_for(args.export, args.format)  # a bad extension fails before Prefect starts
    try:
        report = asyncio.run(
            segments_fanout(
                credentials_blocks=args.credentials_blocks,
                partner_credentials=args.partner_credentials,
                partner_from_env=args.sandbox,
                concurrency=args.concurrency,
                concurrency_limit=args.concurrency_limit,
                export=args.export,
                export_format=args.format,
            )
        )
    except FanoutFailedError as exc:
        print_fanout_failures(console, exc.failures)
        raise
    print_fanout_report(console, report, sample=args.sandbox)
    return 0


def _serve(args: argparse.Namespace, console: Console) -> int:
    from ..deployments.serve import main as serve

    return serve([])


def _automations(args: argparse.Namespace, console: Console) -> int:
    from prefect.settings import PREFECT_API_URL

    from ..automations import apply_automations, notification_block_id, wanted_automations
    from ..core.errors import ConfigurationError

    if not PREFECT_API_URL.value():
        raise ConfigurationError(
            "Automations live on a Prefect server, and none is configured (a temporary one "
            "would forget them): set PREFECT_API_URL, or run `botpenguin server start` first."
        )

    async def apply() -> list[Any]:
        block = await notification_block_id(args.notify) if args.notify else None
        wanted = wanted_automations(block, account=args.account)
        return await apply_automations(wanted, dry_run=args.dry_run)

    verbs = {"created": "would create", "updated": "would update", "unchanged": "unchanged"}
    for applied in asyncio.run(apply()):
        verb = verbs[applied.outcome] if args.dry_run else applied.outcome
        what = f" ({', '.join(applied.changed)})" if applied.changed else ""
        ident = f" [{applied.id}]" if applied.id else ""
        console.print(f"{verb}: {applied.name}{what}{ident}", soft_wrap=True)
    if not args.notify:
        console.print(
            "Skipped the two notification automations: pass --notify BLOCK_NAME (a saved "
            "notification block) to add them.",
            soft_wrap=True,
        )
    return 0


def _server(args: argparse.Namespace, console: Console) -> int:
    from . import local_server

    if args.action == "start":
        from prefect.settings import PREFECT_API_URL

        server, started = local_server.start(port=args.port, timeout=args.timeout)
        state = "Started" if started else "Already running:"
        configured = PREFECT_API_URL.value()
        reuse = (
            f"PREFECT_API_URL is set, so commands keep using {configured}; unset it to use "
            "this server"
            if configured
            else "botpenguin commands now run on it while PREFECT_API_URL is unset"
        )
        console.print(
            f"{state} Prefect server on {server.ui_url} (pid {server.pid}; log {server.log}). "
            f"{reuse}; `botpenguin server stop` stops it.",
            soft_wrap=True,
        )
        return 0
    if args.action == "stop":
        stopped = local_server.stop()
        console.print(
            f"Stopped the Prefect server on {stopped.ui_url} (pid {stopped.pid})."
            if stopped
            else "No botpenguin Prefect server was running."
        )
        return 0
    running = local_server.running_server()
    if running is None:
        console.print("No botpenguin Prefect server is running; `botpenguin server start`.")
        return EXIT_NOT_RUNNING
    console.print(
        f"Running: UI {running.ui_url}, API {running.api_url}, pid {running.pid}, "
        f"log {running.log}",
        soft_wrap=True,
    )
    return 0


@contextmanager
def _local_server(command: str, console: Console) -> Iterator[None]:
    """Run on the server ``botpenguin server start`` left running, unless an API is configured.

    Runs there start warm (no temporary server) and stay visible in its UI afterwards.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if command == "server" or PREFECT_API_URL.value():
        yield
        return
    from .local_server import running_server

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
    from ..sandbox import SandboxServer

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


def _state_options(command: argparse.ArgumentParser) -> None:
    """Where the state lives, and the watch's ways to overrule its own caution."""
    command.add_argument(
        "--state-filesystem",
        metavar="BLOCK",
        help="saved filesystem block holding the state, as BLOCK-TYPE/NAME (e.g. "
        "remote-file-system/shared); --state is then a path inside it",
    )
    command.add_argument(
        "--accept-drop",
        action="store_true",
        help="trust a fetch that lost all or most segments at once (held for a run otherwise)",
    )
    command.add_argument(
        "--reset-state",
        action="store_true",
        help="record a new baseline on purpose, replacing the saved snapshot and its outbox",
    )
    command.add_argument(
        "--drop-pending",
        action="store_true",
        help="give up on change messages earlier runs could not deliver",
    )


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--sandbox",
        action="store_true",
        help="run against the bundled sandbox server with invented sample data (offline)",
    )
    common.add_argument(
        "--credentials",
        metavar="BLOCK_NAME",
        help="saved BotPenguin Credentials block (default: BOTPENGUIN_* environment variables)",
    )
    common.add_argument("--account", help="label for the account in artifact keys")
    common.add_argument("--debug", action="store_true", help="show full tracebacks on failure")

    parser = argparse.ArgumentParser(prog="botpenguin", description="Run prefect-botpenguin flows.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    report = commands.add_parser(
        "report", parents=[common], help="fetch segments, publish artifacts, print a table"
    )
    report.set_defaults(handler=_report)
    export = commands.add_parser(
        "export", parents=[common], help="fetch segments and write them to a file, atomically"
    )
    export.add_argument(
        "--to",
        required=True,
        metavar="DEST",
        help="local path or fsspec URL (memory://, s3://...); the extension picks the format",
    )
    export.add_argument("--format", choices=EXPORT_FORMATS, help="override the extension")
    export.set_defaults(handler=_export)
    members = commands.add_parser(
        "members",
        parents=[common],
        help="write the members (contacts) of segments to a file, page by page, atomically",
    )
    members.add_argument(
        "--to",
        required=True,
        metavar="DEST",
        help="local path or fsspec URL; the extension picks the format; "
        "{segment_id} in it writes one file per segment",
    )
    members.add_argument(
        "--segments", nargs="+", metavar="ID", help="segment ids to export (default: all)"
    )
    members.add_argument(
        "--fields",
        nargs="+",
        metavar="FIELD",
        help="contact fields to keep besides segment_id and id (default: all)",
    )
    members.add_argument("--format", choices=EXPORT_FORMATS, help="override the extension")
    members.set_defaults(handler=_members)
    watch = commands.add_parser(
        "watch", parents=[common], help="report segment changes since the last run, and notify"
    )
    watch.add_argument(
        "--state",
        metavar="DEST",
        help="directory or fsspec URL keeping one snapshot per account "
        "(default: .botpenguin/snapshots)",
    )
    watch.add_argument(
        "--notify",
        action="append",
        metavar="TARGET",
        help="Apprise URL (contains ://) or saved notification block name; repeatable",
    )
    watch.add_argument(
        "--always-notify",
        action="store_true",
        help="notify on every run, also without changes or on the first (baseline) run",
    )
    watch.add_argument(
        "--members",
        nargs="+",
        metavar="ID",
        help="also report who joined and left these segments ('all' for every segment); "
        "counts only, contact ids kept beside the snapshot",
    )
    _state_options(watch)
    watch.set_defaults(handler=_watch)
    sync = commands.add_parser(
        "sync",
        parents=[common],
        help="fetch once, then publish artifacts, export and watch (what deployments schedule)",
    )
    sync.add_argument("--export", metavar="DEST", help="also export to DEST (path or fsspec URL)")
    sync.add_argument("--format", choices=EXPORT_FORMATS, help="export format; default: extension")
    sync.add_argument("--state", metavar="DEST", help="snapshot directory or fsspec URL")
    sync.add_argument(
        "--notify", action="append", metavar="TARGET", help="Apprise URL or block; repeatable"
    )
    sync.add_argument("--always-notify", action="store_true", help="notify on every run")
    sync.add_argument("--no-watch", action="store_true", help="skip change detection")
    sync.add_argument("--no-artifacts", action="store_true", help="skip the segments artifacts")
    _state_options(sync)
    sync.set_defaults(handler=_sync)
    fanout = commands.add_parser(
        "fanout", help="collect the segments of many accounts at once (saved blocks or a partner)"
    )
    fanout.add_argument(
        "--credentials-blocks",
        nargs="+",
        metavar="NAME",
        help="saved BotPenguin Credentials blocks, one per account",
    )
    fanout.add_argument(
        "--partner-credentials",
        metavar="NAME",
        help="saved Credentials block of a partner: every customer it lists is collected",
    )
    fanout.add_argument(
        "--concurrency", type=int, default=8, metavar="N", help="API calls in flight, max (8)"
    )
    fanout.add_argument(
        "--concurrency-limit", metavar="NAME", help="Prefect global concurrency limit to obey too"
    )
    fanout.add_argument(
        "--export",
        metavar="DEST",
        help="one file with an 'account' column, or one per account if DEST has {account}",
    )
    fanout.add_argument("--format", choices=EXPORT_FORMATS, help="override the extension")
    fanout.add_argument(
        "--sandbox",
        action="store_true",
        help="collect simulated accounts of a sandbox partner (invented sample data, offline)",
    )
    fanout.add_argument(
        "--sandbox-accounts",
        type=int,
        default=20,
        metavar="N",
        help="how many accounts the sandbox simulates (20)",
    )
    fanout.add_argument("--debug", action="store_true", help="show full tracebacks on failure")
    fanout.set_defaults(handler=_fanout, credentials=None, account=None)
    serve = commands.add_parser(
        "serve",
        help="serve every deployment of the bundled prefect.yaml from this process (no worker)",
    )
    serve.add_argument("--debug", action="store_true", help="show full tracebacks on failure")
    serve.set_defaults(handler=_serve, credentials=None, account=None, sandbox=False)
    automations = commands.add_parser(
        "automations",
        help="create or update, by name, the Prefect automations around the flows",
        description="Create or update, by name, Prefect automations on the configured server "
        "(PREFECT_API_URL or `botpenguin server`): a message through a notification block when "
        "an account's segments change, a message when a sync run fails, and a watch or sync "
        "run that stops sending heartbeats marked Crashed. Applying again changes nothing; "
        "events: deployments/EVENTS.md.",
    )
    automations.add_argument("action", choices=("apply",))
    automations.add_argument(
        "--notify",
        metavar="BLOCK_NAME",
        help="saved notification block (Slack, Teams, Custom Webhook, ...) for the messages",
    )
    automations.add_argument(
        "--account",
        metavar="LABEL",
        help="only this account's segment changes notify (default: every account)",
    )
    automations.add_argument(
        "--dry-run", action="store_true", help="print what would change, change nothing"
    )
    automations.add_argument("--debug", action="store_true", help="show full tracebacks on failure")
    automations.set_defaults(handler=_automations, credentials=None, sandbox=False)
    server = commands.add_parser(
        "server",
        help="start, stop or locate a local Prefect server that later commands reuse",
        description="A local Prefect server in the background: while it runs and "
        "PREFECT_API_URL is unset, every botpenguin command runs on it (no temporary server "
        "per command) and its runs and artifacts stay in its UI. `status` exits 3 when none "
        "is running.",
    )
    server.add_argument("action", choices=("start", "stop", "status"))
    server.add_argument(
        "--port", type=int, default=4200, metavar="N", help="loopback port for start (4200)"
    )
    server.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="how long start waits for the server to answer (120)",
    )
    server.add_argument("--debug", action="store_true", help="show full tracebacks on failure")
    server.set_defaults(handler=_server, credentials=None, account=None, sandbox=False)
    return parser


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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.sandbox and args.credentials:
        parser.error("--sandbox and --credentials exclude each other")
    # Plain text everywhere: segment names and errors may hold "[...]" that rich would parse.
    console = Console(markup=False, highlight=False)
    errors = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)  # one line
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if on_main_thread else None
    try:
        return _run(args, console, errors)
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace, console: Console, errors: Console) -> int:
    """Run the chosen command; every failure becomes one line on ``errors`` and an exit code."""
    from prefect.exceptions import TerminationSignal  # Prefect's own SIGTERM, inside a run

    handler: Handler = args.handler
    try:
        if not args.debug:
            import prefect.main  # noqa: F401  (configures Prefect's logging; then quietened)

            from .console import hide_tracebacks

            hide_tracebacks()
        with (
            _prefect_defaults(),
            _local_server(args.command, console),
            _sandbox_environment(args.sandbox, console, getattr(args, "sandbox_accounts", None)),
        ):
            return handler(args, console)
    except (KeyboardInterrupt, TerminationSignal) as stop:
        terminated = isinstance(stop, _Terminated | TerminationSignal)
        errors.print(
            f"Stopped by {'SIGTERM' if terminated else 'Ctrl-C'}; nothing was written half-way "
            "(an export or snapshot is either complete or untouched)."
        )
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    except BotPenguinError as exc:
        if args.debug:
            raise
        errors.print(f"error: {exc}")
        return EXIT_FAILED
    except Exception as exc:
        if args.debug:
            raise
        errors.print(
            f"error: {type(exc).__name__}: {exc} (run again with --debug for details)",
        )
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
