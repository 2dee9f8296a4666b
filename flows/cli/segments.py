"""The commands about one account's segments: ``report``, ``export``, ``members``, ``watch``,
``sync`` and ``history``. Each parses, calls its flow and prints; the options they share are
in ``account`` and ``groups``."""

from __future__ import annotations

import asyncio

from rich.console import Console

from . import options as o
from .account import Target, account_command, state_command
from .groups import Destination, StateGuards, WatchTargets


@account_command
def report(console: Console, target: Target) -> None:
    """fetch segments, publish artifacts, print a table"""
    from ..console import print_segments
    from ..report import segments_report

    segments = asyncio.run(segments_report(**target.flow_options))
    print_segments(console, segments, "BotPenguin segments" + target.sample)


@account_command
def export(console: Console, target: Target, to: Destination) -> None:
    """fetch segments and write them to a file, atomically"""
    from ..export import segments_export

    written = asyncio.run(segments_export(**to.flow_options, **target.flow_options))
    what = f"{written.count} segment(s)"
    _print_written(console, what, target, written.format, written.destination, written.size_bytes)


@account_command
def members(
    console: Console,
    target: Target,
    to: o.MembersTo,
    segments: o.Segments = None,
    fields: o.Fields = None,
    format: o.Format = None,
) -> None:
    """write the members (contacts) of segments to a file, page by page, atomically"""
    from ..members import segments_members_export

    written = asyncio.run(
        segments_members_export(
            **Destination(to, format).flow_options,
            segments=segments,
            fields=fields,
            **target.flow_options,
        )
    )
    what = f"{written.count} member row(s) of {len(written.segments)} segment(s)"
    files = f"{len(written.files)} file(s) under " if len(written.files) != 1 else ""
    where = files + written.destination
    _print_written(console, what, target, written.format, where, written.size_bytes)


@state_command
def history(
    console: Console,
    target: Target,
    to: Destination,
    state: o.State = None,
    state_filesystem: o.StateFilesystem = None,
    segments: o.Segments = None,
) -> None:
    """write the segment sizes the watch recorded (one row per segment and run) to a file"""
    from ...snapshots import DEFAULT_STATE_DIR
    from ..history import segments_history_export

    written = asyncio.run(
        segments_history_export(
            **to.flow_options,
            account=target.account,
            state=state or DEFAULT_STATE_DIR,
            state_filesystem=state_filesystem,
            segments=segments,
        )
    )
    what = f"{written.count} size point(s)"
    _print_written(console, what, target, written.format, written.destination, written.size_bytes)


def _print_written(
    console: Console, what: str, target: Target, format: str, where: str, size_bytes: int
) -> None:
    """One line for an export: what, as which format, where, how big."""
    sample = " of SAMPLE DATA from the sandbox" if target.sandbox else ""
    console.print(
        f"Wrote {what}{sample} as {format.upper()} to {where} ({size_bytes} bytes).",
        soft_wrap=True,
    )


@account_command
def watch(
    console: Console,
    target: Target,
    *,
    targets: WatchTargets,
    members: o.WatchMembers = None,
    guards: StateGuards,
    resize_relative: o.ResizeRelative = None,
    resize_absolute: o.ResizeAbsolute = None,
) -> None:
    """report segment changes since the last run, and notify"""
    from ..watch import segments_watch

    result = asyncio.run(
        segments_watch(
            **target.flow_options,
            **targets.flow_options,
            **guards.flow_options,
            members=members,
            resize_relative=resize_relative,
            resize_absolute=resize_absolute,
        )
    )
    console.print(f"{result.message.subject}{target.sample}")
    if result.held_drop:
        console.print(result.message.body, soft_wrap=True)
    if not result.baseline and result.changed:
        console.print(result.message.body, soft_wrap=True)
    console.print(f"Snapshot: {result.snapshot}", soft_wrap=True)
    if result.notified:
        console.print(f"Notified: {', '.join(result.notified)}")
    if result.pending:
        console.print(f"Undelivered change messages kept for the next run: {result.pending}")


@account_command
def sync(
    console: Console,
    target: Target,
    export: o.SyncExport = None,
    format: o.Format = None,
    *,
    targets: WatchTargets,
    no_watch: o.NoWatch = False,
    no_artifacts: o.NoArtifacts = False,
    guards: StateGuards,
) -> None:
    """fetch once, then publish artifacts, export and watch (what deployments schedule)"""
    from ..sync import ExportStep, WatchStep, segments_sync

    chosen = o.checked_format(export, format)
    watch = WatchStep(enabled=not no_watch, **targets.flow_options, **guards.flow_options)
    result = asyncio.run(
        segments_sync(
            **target.flow_options,
            publish_artifacts=not no_artifacts,
            export=ExportStep(enabled=True, destination=export, format=chosen)
            if export
            else ExportStep(),
            watch=watch,
        )
    )
    lines = [f"Synced {result.segment_count} segment(s) of {result.account}{target.sample}."]
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
