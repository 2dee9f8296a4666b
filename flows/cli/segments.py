"""The commands about one account's segments: ``report``, ``export``, ``members``, ``watch``
and ``sync``. Each parses, calls its flow and prints."""

from __future__ import annotations

import asyncio

from rich.console import Console

from ...core.formats import format_for
from . import options as o
from .session import SAMPLE, run


def report(
    sandbox: o.Sandbox = False,
    credentials: o.Credentials = None,
    account: o.Account = None,
    debug: o.Debug = False,
) -> None:
    """fetch segments, publish artifacts, print a table"""

    def work(console: Console) -> None:
        from ..console import print_segments
        from ..report import segments_report

        segments = asyncio.run(segments_report(credentials=credentials, account=account))
        print_segments(console, segments, "BotPenguin segments" + (SAMPLE if sandbox else ""))

    run(work, debug=debug, sandbox=sandbox, credentials=credentials)


def export(
    to: o.ExportTo,
    format: o.Format = None,
    sandbox: o.Sandbox = False,
    credentials: o.Credentials = None,
    account: o.Account = None,
    debug: o.Debug = False,
) -> None:
    """fetch segments and write them to a file, atomically"""

    def work(console: Console) -> None:
        from ..export import segments_export

        chosen = o.export_format(format)
        format_for(to, chosen)  # a bad extension fails before Prefect starts
        written = asyncio.run(
            segments_export(destination=to, credentials=credentials, account=account, format=chosen)
        )
        what = f"{written.count} segment(s)"
        _print_written(
            console, what, sandbox, written.format, written.destination, written.size_bytes
        )

    run(work, debug=debug, sandbox=sandbox, credentials=credentials)


def members(
    to: o.MembersTo,
    segments: o.Segments = None,
    fields: o.Fields = None,
    format: o.Format = None,
    sandbox: o.Sandbox = False,
    credentials: o.Credentials = None,
    account: o.Account = None,
    debug: o.Debug = False,
) -> None:
    """write the members (contacts) of segments to a file, page by page, atomically"""

    def work(console: Console) -> None:
        from ..members import segments_members_export

        chosen = o.export_format(format)
        format_for(to, chosen)  # a bad extension fails before Prefect starts
        written = asyncio.run(
            segments_members_export(
                destination=to,
                credentials=credentials,
                account=account,
                segments=segments,
                fields=fields,
                format=chosen,
            )
        )
        what = f"{written.count} member row(s) of {len(written.segments)} segment(s)"
        files = f"{len(written.files)} file(s) under " if len(written.files) != 1 else ""
        _print_written(
            console, what, sandbox, written.format, files + written.destination, written.size_bytes
        )

    run(work, debug=debug, sandbox=sandbox, credentials=credentials)


def _print_written(
    console: Console, what: str, sandbox: bool, format: str, where: str, size_bytes: int
) -> None:
    """One line for an export: what, as which format, where, how big."""
    sample = " of SAMPLE DATA from the sandbox" if sandbox else ""
    console.print(
        f"Wrote {what}{sample} as {format.upper()} to {where} ({size_bytes} bytes).",
        soft_wrap=True,
    )


def watch(
    state: o.State = None,
    notify: o.Notify = None,
    always_notify: o.AlwaysNotify = False,
    members: o.WatchMembers = None,
    state_filesystem: o.StateFilesystem = None,
    accept_drop: o.AcceptDrop = False,
    reset_state: o.ResetState = False,
    drop_pending: o.DropPending = False,
    resize_relative: o.ResizeRelative = None,
    resize_absolute: o.ResizeAbsolute = None,
    sandbox: o.Sandbox = False,
    credentials: o.Credentials = None,
    account: o.Account = None,
    debug: o.Debug = False,
) -> None:
    """report segment changes since the last run, and notify"""

    def work(console: Console) -> None:
        from ...snapshots import DEFAULT_STATE_DIR
        from ..watch import segments_watch

        result = asyncio.run(
            segments_watch(
                credentials=credentials,
                account=account,
                state=state or DEFAULT_STATE_DIR,
                state_filesystem=state_filesystem,
                notify=[*notify] if notify else None,
                always_notify=always_notify,
                members=members,
                accept_drop=accept_drop,
                reset_state=reset_state,
                drop_pending=drop_pending,
                resize_relative=resize_relative,
                resize_absolute=resize_absolute,
            )
        )
        console.print(f"{result.message.subject}{SAMPLE if sandbox else ''}")
        if result.held_drop:
            console.print(result.message.body, soft_wrap=True)
        if not result.baseline and result.changed:
            console.print(result.message.body, soft_wrap=True)
        console.print(f"Snapshot: {result.snapshot}", soft_wrap=True)
        if result.notified:
            console.print(f"Notified: {', '.join(result.notified)}")
        if result.pending:
            console.print(f"Undelivered change messages kept for the next run: {result.pending}")

    run(work, debug=debug, sandbox=sandbox, credentials=credentials)


def sync(
    export: o.SyncExport = None,
    format: o.Format = None,
    state: o.State = None,
    notify: o.Notify = None,
    always_notify: o.AlwaysNotify = False,
    no_watch: o.NoWatch = False,
    no_artifacts: o.NoArtifacts = False,
    state_filesystem: o.StateFilesystem = None,
    accept_drop: o.AcceptDrop = False,
    reset_state: o.ResetState = False,
    drop_pending: o.DropPending = False,
    sandbox: o.Sandbox = False,
    credentials: o.Credentials = None,
    account: o.Account = None,
    debug: o.Debug = False,
) -> None:
    """fetch once, then publish artifacts, export and watch (what deployments schedule)"""

    def work(console: Console) -> None:
        from ...snapshots import DEFAULT_STATE_DIR
        from ..sync import ExportStep, WatchStep, segments_sync

        chosen = o.export_format(format)
        if export:
            format_for(export, chosen)  # a bad extension fails before Prefect starts
        watch = WatchStep(
            enabled=not no_watch,
            state=state or DEFAULT_STATE_DIR,
            state_filesystem=state_filesystem,
            notify=notify or [],
            always_notify=always_notify,
            accept_drop=accept_drop,
            reset_state=reset_state,
            drop_pending=drop_pending,
        )
        result = asyncio.run(
            segments_sync(
                credentials=credentials,
                account=account,
                publish_artifacts=not no_artifacts,
                export=ExportStep(enabled=True, destination=export, format=chosen)
                if export
                else ExportStep(),
                watch=watch,
            )
        )
        sample = SAMPLE if sandbox else ""
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

    run(work, debug=debug, sandbox=sandbox, credentials=credentials)
