"""Every option of the ``botpenguin`` command, declared once and shared by the commands.

A name says which option it is; where two commands mean different things by one flag
(``--to`` of ``export`` and of ``members``), each meaning has its own name here.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from ...core.formats import EXPORT_FORMATS, ExportFormat


class SeveralValues(TyperCommand):
    """A command whose list options take one or more values after one flag, as before.

    ``--fields name phone`` keeps working (scripts and the README use it); click only knows
    ``--fields name --fields phone``, so the first form is rewritten into the second, and
    repeating the flag still adds values.
    """

    # ``ctx`` is click's Context, which typer vendors under a private name in newer releases.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        lists = {
            flag
            for param in self.params
            if getattr(param, "multiple", False)
            for flag in param.opts
        }
        rewritten: list[str] = []
        flag: str | None = None
        values = 0
        for position, arg in enumerate(args):
            if arg == "--":
                rewritten.extend(args[position:])
                break
            if arg.startswith("-"):
                flag, values = (arg if arg in lists else None), 0
            elif flag is not None:
                if values:
                    rewritten.append(flag)
                values += 1
            rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


def export_format(value: str | None) -> ExportFormat | None:
    """The export format the user named, checked against the known ones (a usage error)."""
    for known in EXPORT_FORMATS:
        if value == known:
            return known
    if value is None:
        return None
    raise typer.BadParameter(f"{value!r} is not one of {', '.join(EXPORT_FORMATS)}.")


_FORMATS = "[" + "|".join(EXPORT_FORMATS) + "]"

Debug = Annotated[bool, typer.Option("--debug", help="show full tracebacks on failure")]
Sandbox = Annotated[
    bool,
    typer.Option(
        "--sandbox",
        help="run against the bundled sandbox server with invented sample data (offline)",
    ),
]
Credentials = Annotated[
    str | None,
    typer.Option(
        "--credentials",
        metavar="BLOCK_NAME",
        help="saved BotPenguin Credentials block (default: BOTPENGUIN_* environment variables)",
    ),
]
Account = Annotated[
    str | None,
    typer.Option("--account", metavar="ACCOUNT", help="label for the account in artifact keys"),
]
Format = Annotated[
    str | None,
    typer.Option(
        "--format", metavar=_FORMATS, callback=export_format, help="override the extension"
    ),
]
ExportTo = Annotated[
    str,
    typer.Option(
        "--to",
        metavar="DEST",
        help="local path or fsspec URL (memory://, s3://...); the extension picks the format",
    ),
]
MembersTo = Annotated[
    str,
    typer.Option(
        "--to",
        metavar="DEST",
        help="local path or fsspec URL; the extension picks the format; "
        "{segment_id} in it writes one file per segment",
    ),
]
Segments = Annotated[
    list[str] | None,
    typer.Option("--segments", metavar="ID", help="segment ids to export (default: all)"),
]
Fields = Annotated[
    list[str] | None,
    typer.Option(
        "--fields",
        metavar="FIELD",
        help="contact fields to keep besides segment_id and id (default: all)",
    ),
]

# Where the watch keeps its state, and its ways to overrule its own caution.
State = Annotated[
    str | None,
    typer.Option(
        "--state",
        metavar="DEST",
        help="directory or fsspec URL keeping one snapshot per account "
        "(default: .botpenguin/snapshots)",
    ),
]
StateFilesystem = Annotated[
    str | None,
    typer.Option(
        "--state-filesystem",
        metavar="BLOCK",
        help="saved filesystem block holding the state, as BLOCK-TYPE/NAME (e.g. "
        "remote-file-system/shared); --state is then a path inside it",
    ),
]
Notify = Annotated[
    list[str] | None,
    typer.Option(
        "--notify",
        metavar="TARGET",
        help="Apprise URL (contains ://) or saved notification block name; repeatable",
    ),
]
AlwaysNotify = Annotated[
    bool,
    typer.Option(
        "--always-notify",
        help="notify on every run, also without changes or on the first (baseline) run",
    ),
]
WatchMembers = Annotated[
    list[str] | None,
    typer.Option(
        "--members",
        metavar="ID",
        help="also report who joined and left these segments ('all' for every segment); "
        "counts only, contact ids kept beside the snapshot",
    ),
]
AcceptDrop = Annotated[
    bool,
    typer.Option(
        "--accept-drop",
        help="trust a fetch that lost all or most segments at once (held for a run otherwise)",
    ),
]
ResetState = Annotated[
    bool,
    typer.Option(
        "--reset-state",
        help="record a new baseline on purpose, replacing the saved snapshot and its outbox",
    ),
]
DropPending = Annotated[
    bool,
    typer.Option(
        "--drop-pending", help="give up on change messages earlier runs could not deliver"
    ),
]

# ``load`` only.
Database = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="URL",
        help="SQLAlchemy URL of a PostgreSQL or SQLite database (default: BOTPENGUIN_DB_URL, "
        "else the embedded .botpenguin/snapshots/warehouse.sqlite); never printed with its "
        "password",
    ),
]
LoadMembers = Annotated[
    list[str] | None,
    typer.Option(
        "--members",
        metavar="ID",
        help="also load the memberships of these segments ('all' for every segment)",
    ),
]
ContactFields = Annotated[
    list[str] | None,
    typer.Option(
        "--contact-fields",
        metavar="FIELD",
        help="keep these contact fields in the contacts table ('all' for every one); "
        "default: contact ids only",
    ),
]
# ``watch`` only.
ResizeRelative = Annotated[
    float | None,
    typer.Option(
        "--resize-relative",
        metavar="PERCENT",
        help="a size move notifies past this percent and --resize-absolute "
        "(BOTPENGUIN_RESIZE_RELATIVE, 10)",
    ),
]
ResizeAbsolute = Annotated[
    int | None,
    typer.Option(
        "--resize-absolute",
        metavar="N",
        help="a size move notifies past N contacts and --resize-relative "
        "(BOTPENGUIN_RESIZE_ABSOLUTE, 10)",
    ),
]

# ``sync`` only.
SyncExport = Annotated[
    str | None,
    typer.Option("--export", metavar="DEST", help="also export to DEST (path or fsspec URL)"),
]
NoWatch = Annotated[bool, typer.Option("--no-watch", help="skip change detection")]
NoArtifacts = Annotated[bool, typer.Option("--no-artifacts", help="skip the segments artifacts")]

# ``fanout`` only.
CredentialsBlocks = Annotated[
    list[str] | None,
    typer.Option(
        "--credentials-blocks",
        metavar="NAME",
        help="saved BotPenguin Credentials blocks, one per account",
    ),
]
PartnerCredentials = Annotated[
    str | None,
    typer.Option(
        "--partner-credentials",
        metavar="NAME",
        help="saved Credentials block of a partner: every customer it lists is collected",
    ),
]
Concurrency = Annotated[
    int, typer.Option("--concurrency", metavar="N", help="API calls in flight, max (8)")
]
ConcurrencyLimit = Annotated[
    str | None,
    typer.Option(
        "--concurrency-limit", metavar="NAME", help="Prefect global concurrency limit to obey too"
    ),
]
FanoutExport = Annotated[
    str | None,
    typer.Option(
        "--export",
        metavar="DEST",
        help="one file with an 'account' column, or one per account if DEST has {account}",
    ),
]
Shards = Annotated[
    int,
    typer.Option(
        "--shards",
        metavar="N",
        help="split the accounts into N shards, each its own flow run (DEST needs {account})",
    ),
]
ShardDeployment = Annotated[
    str | None,
    typer.Option(
        "--shard-deployment",
        metavar="FLOW/NAME",
        help="run the shards on this deployment's work pool (default: in this process)",
    ),
]
FanoutMembers = Annotated[
    bool,
    typer.Option(
        "--members",
        help="export each account's segment members instead of its segments (DEST needs {account})",
    ),
]
PartnerSandbox = Annotated[
    bool,
    typer.Option(
        "--sandbox",
        help="collect simulated accounts of a sandbox partner (invented sample data, offline)",
    ),
]
SandboxAccounts = Annotated[
    int,
    typer.Option(
        "--sandbox-accounts", metavar="N", help="how many accounts the sandbox simulates (20)"
    ),
]

# ``automations apply`` only.
NotifyBlock = Annotated[
    str | None,
    typer.Option(
        "--notify",
        metavar="BLOCK_NAME",
        help="saved notification block (Slack, Teams, Custom Webhook, ...) for the messages",
    ),
]
NotifyAccount = Annotated[
    str | None,
    typer.Option(
        "--account",
        metavar="LABEL",
        help="only this account's segment changes notify (default: every account)",
    ),
]
Swing = Annotated[
    int | None,
    typer.Option(
        "--swing",
        metavar="N",
        min=0,
        max=999,
        help="also notify when an audience grows or shrinks by N% or more since the "
        "previous watch run (needs --notify)",
    ),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="print what would change, change nothing")]

# ``server start`` only.
Port = Annotated[int, typer.Option("--port", metavar="N", help="loopback port for start (4200)")]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help="how long start waits for the server to answer (120)",
    ),
]
