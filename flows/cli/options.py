"""Every option of the ``botpenguin`` command, declared once and shared by the commands.

A name says which option it is; where two commands mean different things by one flag
(``--to`` of ``export`` and of ``members``), each meaning has its own name here.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from ...core.formats import EXPORT_FORMATS, ExportFormat, format_for


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


def checked_format(destination: str | None, format: str | None) -> ExportFormat | None:
    """``--format`` for an export to ``destination``, checked with its extension (if any).

    Why: a bad extension (``out.txt``) then fails as one line before Prefect starts or anything
    is fetched; with no destination (an export not asked for) there is nothing to check.
    """
    chosen = export_format(format)
    if destination:
        format_for(destination, chosen)
    return chosen


def option(flag: str, help: str, **checks: Any) -> Any:
    """``typer.Option`` written as ``--help`` shows it: ``"--to DEST"`` is the flag and its metavar.

    Why: the table below then reads as the help pages it makes, and each declaration says only
    what is its own (its flag, metavar and help; ``checks`` such as a callback or bounds).
    """
    name, _, metavar = flag.partition(" ")
    return typer.Option(name, metavar=metavar or None, help=help, **checks)


_FORMATS = "[" + "|".join(EXPORT_FORMATS) + "]"

Debug = Annotated[bool, option("--debug", "show full tracebacks on failure")]
Sandbox = Annotated[
    bool,
    option(
        "--sandbox", "run against the bundled sandbox server with invented sample data (offline)"
    ),
]
Credentials = Annotated[
    str | None,
    option(
        "--credentials BLOCK_NAME",
        "saved BotPenguin Credentials block (default: BOTPENGUIN_* environment variables)",
    ),
]
Account = Annotated[
    str | None, option("--account ACCOUNT", "label for the account in artifact keys")
]
Format = Annotated[
    str | None, option("--format " + _FORMATS, "override the extension", callback=export_format)
]
ExportTo = Annotated[
    str,
    option(
        "--to DEST",
        "local path or fsspec URL (memory://, s3://...); the extension picks the format",
    ),
]
MembersTo = Annotated[
    str,
    option(
        "--to DEST",
        "local path or fsspec URL; the extension picks the format; "
        "{segment_id} in it writes one file per segment",
    ),
]
Segments = Annotated[
    list[str] | None, option("--segments ID", "segment ids to export (default: all)")
]
Fields = Annotated[
    list[str] | None,
    option("--fields FIELD", "contact fields to keep besides segment_id and id (default: all)"),
]

# Where the watch keeps its state, and its ways to overrule its own caution.
State = Annotated[
    str | None,
    option(
        "--state DEST",
        "directory or fsspec URL keeping one snapshot per account (default: .botpenguin/snapshots)",
    ),
]
StateFilesystem = Annotated[
    str | None,
    option(
        "--state-filesystem BLOCK",
        "saved filesystem block holding the state, as BLOCK-TYPE/NAME (e.g. "
        "remote-file-system/shared); --state is then a path inside it",
    ),
]
Notify = Annotated[
    list[str] | None,
    option(
        "--notify TARGET", "Apprise URL (contains ://) or saved notification block name; repeatable"
    ),
]
AlwaysNotify = Annotated[
    bool,
    option(
        "--always-notify",
        "notify on every run, also without changes or on the first (baseline) run",
    ),
]
WatchMembers = Annotated[
    list[str] | None,
    option(
        "--members ID",
        "also report who joined and left these segments ('all' for every segment); "
        "counts only, contact ids kept beside the snapshot",
    ),
]
AcceptDrop = Annotated[
    bool,
    option(
        "--accept-drop",
        "trust a fetch that lost all or most segments at once (held for a run otherwise)",
    ),
]
ResetState = Annotated[
    bool,
    option(
        "--reset-state",
        "record a new baseline on purpose, replacing the saved snapshot and its outbox",
    ),
]
DropPending = Annotated[
    bool, option("--drop-pending", "give up on change messages earlier runs could not deliver")
]

# ``load`` only.
Database = Annotated[
    str | None,
    option(
        "--db URL",
        "SQLAlchemy URL of a PostgreSQL or SQLite database (default: BOTPENGUIN_DB_URL, "
        "else the embedded .botpenguin/snapshots/warehouse.sqlite); never printed with its "
        "password",
    ),
]
LoadMembers = Annotated[
    list[str] | None,
    option("--members ID", "also load the memberships of these segments ('all' for every segment)"),
]
ContactFields = Annotated[
    list[str] | None,
    option(
        "--contact-fields FIELD",
        "keep these contact fields in the contacts table ('all' for every one); "
        "default: contact ids only",
    ),
]
# ``watch`` only.
ResizeRelative = Annotated[
    float | None,
    option(
        "--resize-relative PERCENT",
        "a size move notifies past this percent and --resize-absolute "
        "(BOTPENGUIN_RESIZE_RELATIVE, 10)",
    ),
]
ResizeAbsolute = Annotated[
    int | None,
    option(
        "--resize-absolute N",
        "a size move notifies past N contacts and --resize-relative "
        "(BOTPENGUIN_RESIZE_ABSOLUTE, 10)",
    ),
]

# ``sync`` only.
SyncExport = Annotated[
    str | None, option("--export DEST", "also export to DEST (path or fsspec URL)")
]
NoWatch = Annotated[bool, option("--no-watch", "skip change detection")]
NoArtifacts = Annotated[bool, option("--no-artifacts", "skip the segments artifacts")]

# ``fanout`` only.
CredentialsBlocks = Annotated[
    list[str] | None,
    option("--credentials-blocks NAME", "saved BotPenguin Credentials blocks, one per account"),
]
PartnerCredentials = Annotated[
    str | None,
    option(
        "--partner-credentials NAME",
        "saved Credentials block of a partner: every customer it lists is collected",
    ),
]
Concurrency = Annotated[int, option("--concurrency N", "API calls in flight, max (8)")]
ConcurrencyLimit = Annotated[
    str | None, option("--concurrency-limit NAME", "Prefect global concurrency limit to obey too")
]
FanoutExport = Annotated[
    str | None,
    option(
        "--export DEST",
        "one file with an 'account' column, or one per account if DEST has {account}",
    ),
]
Shards = Annotated[
    int,
    option(
        "--shards N",
        "split the accounts into N shards, each its own flow run (DEST needs {account})",
    ),
]
ShardDeployment = Annotated[
    str | None,
    option(
        "--shard-deployment FLOW/NAME",
        "run the shards on this deployment's work pool (default: in this process)",
    ),
]
FanoutMembers = Annotated[
    bool,
    option(
        "--members",
        "export each account's segment members instead of its segments (DEST needs {account})",
    ),
]
PartnerSandbox = Annotated[
    bool,
    option(
        "--sandbox",
        "collect simulated accounts of a sandbox partner (invented sample data, offline)",
    ),
]
SandboxAccounts = Annotated[
    int, option("--sandbox-accounts N", "how many accounts the sandbox simulates (20)")
]

# ``automations apply`` only.
NotifyBlock = Annotated[
    str | None,
    option(
        "--notify BLOCK_NAME",
        "saved notification block (Slack, Teams, Custom Webhook, ...) for the messages",
    ),
]
NotifyAccount = Annotated[
    str | None,
    option(
        "--account LABEL", "only this account's segment changes notify (default: every account)"
    ),
]
Swing = Annotated[
    int | None,
    option(
        "--swing N",
        "also notify when an audience grows or shrinks by N% or more since the "
        "previous watch run (needs --notify)",
        min=0,
        max=999,
    ),
]
DryRun = Annotated[bool, option("--dry-run", "print what would change, change nothing")]

# ``server start`` only.
Port = Annotated[int, option("--port N", "loopback port for start (4200)")]
Timeout = Annotated[
    float, option("--timeout SECONDS", "how long start waits for the server to answer (120)")
]
