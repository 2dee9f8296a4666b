"""Terminal output for the command line: quiet tracebacks and a readable segments table."""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from ..core.models import Segment

if TYPE_CHECKING:
    from ..core.fanout import FanoutSummary
    from ..core.shards import Manifest


class _WithoutTraceback(logging.Formatter):
    """Formats a copy of each record without its traceback, so the run log stays one line."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        quiet = copy.copy(record)
        quiet.exc_info = None
        quiet.exc_text = None
        quiet.stack_info = None
        return self.inner.format(quiet)


def hide_tracebacks() -> None:
    """Strip tracebacks from console log handlers (Prefect's too); the API log keeps them."""
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(
                handler.formatter, _WithoutTraceback
            ):
                handler.setFormatter(_WithoutTraceback(handler.formatter))


TERMINAL_ROW_LIMIT = 200
"""Most segments printed as table rows; a large account belongs in an export, not a terminal."""


def print_segments(console: Console, segments: list[Segment], title: str) -> None:
    """Print segments as a table (name, id, how many other fields), the first 200 at most."""
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("Name")
    table.add_column("ID")
    table.add_column("Other fields", justify="right")
    for number, segment in enumerate(segments[:TERMINAL_ROW_LIMIT], start=1):
        name = " ".join((segment.name or "(unnamed)").split())
        table.add_row(str(number), name, segment.id, str(len(segment.extra)))
    console.print(table)
    if len(segments) > TERMINAL_ROW_LIMIT:
        console.print(
            f"{len(segments)} segment(s); showing the first {TERMINAL_ROW_LIMIT} of "
            f"{len(segments)}; use `botpenguin export` for all."
        )
    else:
        console.print(f"{len(segments)} segment(s).")


def print_fanout_report(console: Console, report: FanoutSummary, *, sample: bool = False) -> None:
    """Print one row per account: its label and how many segments it has."""
    title = "BotPenguin fan-out" + (" (SAMPLE DATA from the sandbox)" if sample else "")
    table = Table(title=title, title_justify="left")
    table.add_column("Account")
    table.add_column("Segments", justify="right")
    table.add_column("Seconds", justify="right")
    for account in report.accounts:
        table.add_row(account.label, str(account.segment_count), f"{account.seconds:.2f}")
    console.print(table)
    console.print(
        f"{report.segment_count} segment(s) from {len(report.succeeded)} account(s) in "
        f"{report.seconds:.1f}s, at most {report.concurrency} request(s) in flight."
    )


def print_manifest(console: Console, manifest: Manifest, *, sample: bool = False) -> None:
    """Print one row per account of a sharded fan-out: shard, counts and files."""
    title = f"BotPenguin {manifest.what} fan-out" + (" (SAMPLE DATA)" if sample else "")
    table = Table(title=title, title_justify="left")
    for column in ("Account", "Shard", "Segments", "Members", "Files"):
        table.add_column(column, justify="left" if column in ("Account", "Files") else "right")
    for entry in manifest.accounts:
        table.add_row(
            entry.label,
            str(entry.shard),
            str(entry.segment_count),
            str(entry.member_count),
            ", ".join(entry.files),
        )
    console.print(table)
    console.print(
        f"{len(manifest.accounts)} account(s) in {manifest.shards} shard(s), "
        f"{manifest.seconds:.1f}s."
    )


def print_fanout_failures(console: Console, failures: list[tuple[str, str]]) -> None:
    """Print the accounts (or exports) a fan-out could not complete, one line each."""
    table = Table(title="Failed", title_justify="left")
    table.add_column("Account")
    table.add_column("Error")
    for label, error in failures:
        table.add_row(label, error)
    console.print(table)
