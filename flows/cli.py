"""``python -m flows``: run the pack's flows from a terminal.

Commands share ``--sandbox`` (run against the bundled sample-data server), ``--credentials``
(a saved block) and ``--debug`` (show tracebacks). Failures print one line and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from unittest.mock import patch

from rich.console import Console

from tasks.errors import BotPenguinError

Handler = Callable[[argparse.Namespace, Console], int]
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def _report(args: argparse.Namespace, console: Console) -> int:
    from flows.console import print_segments
    from flows.report import segments_report

    segments = asyncio.run(segments_report(credentials=args.credentials, account=args.account))
    title = "BotPenguin segments" + (" (SAMPLE DATA from the sandbox)" if args.sandbox else "")
    print_segments(console, segments, title)
    return 0


@contextmanager
def _sandbox_environment(enabled: bool, console: Console) -> Iterator[None]:
    """Start the bundled sandbox and point ``BOTPENGUIN_*`` at it for this process only."""
    if not enabled:
        yield
        return
    from tasks.sandbox import SandboxServer

    with SandboxServer() as sandbox:
        overrides = {"BOTPENGUIN_BASE_URL": sandbox.url, "BOTPENGUIN_API_TOKEN": sandbox.token}
        with patch.dict(os.environ, overrides):
            console.print(
                f"[bold yellow]Sandbox:[/] invented SAMPLE DATA served on {sandbox.url}; "
                "this is not a real BotPenguin account."
            )
            yield


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

    parser = argparse.ArgumentParser(
        prog="python -m flows", description="Run prefect-botpenguin flows."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    report = commands.add_parser(
        "report", parents=[common], help="fetch segments, publish artifacts, print a table"
    )
    report.set_defaults(handler=_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    # A local run needs no usage telemetry, and offline it only adds noise to the terminal.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.sandbox and args.credentials:
        parser.error("--sandbox and --credentials exclude each other")
    console = Console()
    errors = Console(stderr=True)
    handler: Handler = args.handler
    try:
        if not args.debug:
            import prefect  # noqa: F401  (configures Prefect's logging, which we then quieten)

            from flows.console import hide_tracebacks

            hide_tracebacks()
        with _sandbox_environment(args.sandbox, console):
            return handler(args, console)
    except KeyboardInterrupt:
        errors.print("Interrupted.")
        return EXIT_INTERRUPTED
    except BotPenguinError as exc:
        if args.debug:
            raise
        errors.print(f"error: {exc}", markup=False, highlight=False)
        return EXIT_FAILED
    except Exception as exc:
        if args.debug:
            raise
        errors.print(
            f"error: {type(exc).__name__}: {exc} (run again with --debug for details)",
            markup=False,
            highlight=False,
        )
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
