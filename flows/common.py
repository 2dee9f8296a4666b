"""What every flow does before its first task: find the account's credentials and label.

Flow parameters that name a saved block are block-typed, so Prefect's Custom run form offers
the saved blocks in a picker and the run's parameters keep only a reference to the block
(``{"$ref": {"block_document_id": ...}}``), never its token. A block's *name* is still
accepted (older deployments, the CLI, Python callers) and loaded here by name; the form does
not offer it (``SkipJsonSchema``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from prefect.blocks.abstract import NotificationBlock
from prefect.blocks.notifications import (
    CustomWebhookNotificationBlock,
    DiscordWebhook,
    MicrosoftTeamsWebhook,
    SlackWebhook,
)
from prefect.filesystems import LocalFileSystem, RemoteFileSystem, WritableFileSystem
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from .._compat import block_document_name, resolve_path, saved_block_name
from ..core.errors import ConfigurationError
from ..core.formats import ExportFormat, format_for
from ..core.models import Segment
from ..core.settings import load_settings
from ..core.shards import MAX_SHARDS
from ..credentials import BotPenguinCredentials
from ..exports import ExportResult, export_segments, load_filesystem

NonEmpty = Annotated[str, Field(min_length=1)]
"""A required text parameter (an export's destination): the UI refuses it empty."""

Concurrency = Annotated[int, Field(ge=1, le=256)]
"""A fan-out's most API calls in flight at once (the form refuses 0 and more than 256)."""

ShardCount = Annotated[int, Field(ge=1, le=MAX_SHARDS)]
"""A fan-out's ``shards``: 1 runs as one flow, at most ``MAX_SHARDS``."""

ShardAttempts = Annotated[int, Field(ge=1)]
"""A fan-out's ``shard_attempts``: runs per shard at most, at least one."""

CredentialsParam = BotPenguinCredentials | SkipJsonSchema[str] | None
"""A saved BotPenguin Credentials block (picked in the UI), or its name; None: settings."""

FilesystemParam = (
    LocalFileSystem | RemoteFileSystem | SkipJsonSchema[WritableFileSystem | str] | None
)
"""A saved filesystem block (the UI offers Local and Remote File System blocks), any other
writable filesystem block given from Python, or a block as ``BLOCK-TYPE/NAME``."""


NotifyTarget = str | SkipJsonSchema[NotificationBlock]
"""An item of ``notify``: an Apprise URL or a saved notification block's name (the run form
shows a text box per item: it renders a list of blocks as raw JSON), or from Python a saved
notification block."""

NotifyBlockParam = (
    SlackWebhook
    | MicrosoftTeamsWebhook
    | DiscordWebhook
    | CustomWebhookNotificationBlock
    | SkipJsonSchema[NotificationBlock | str]
    | None
)
"""One more target, picked in the run form from the saved Slack, Teams, Discord and Custom
Webhook blocks (any saved notification block, or its name, from Python)."""


def notification_targets(
    targets: list[NotifyTarget] | None, block: NotificationBlock | str | None = None
) -> list[str]:
    """Every target (``block`` last) as text; a block as ``<block-type-slug>/<name>``.

    The watch's outbox remembers which targets accepted each message by that text, and the
    notification code loads a block by it again, so a picked block behaves as its name.
    """
    names: list[str] = []
    for target in [*(targets or []), *([block] if block is not None else [])]:
        if isinstance(target, str):
            names.append(target)
        elif name := saved_block_name(target):
            names.append(f"{target.get_block_type_slug()}/{name}")
        else:
            raise ConfigurationError(
                f"A {type(target).__name__} given to notify must be a saved block (the watch "
                "remembers each target by name to retry it); save it with .save(NAME), or "
                "pass an Apprise URL."
            )
    return names


@dataclass(frozen=True)
class Account:
    """Where a flow's segments come from: a saved block, or ``BOTPENGUIN_*`` settings."""

    label: str
    source: str
    credentials: BotPenguinCredentials | None


async def load_credentials(credentials: BotPenguinCredentials | str) -> BotPenguinCredentials:
    """The block itself, or the saved block of that name (``ConfigurationError`` if none)."""
    if isinstance(credentials, BotPenguinCredentials):
        return credentials
    try:
        block: BotPenguinCredentials = await BotPenguinCredentials.aload(credentials)
    except ValueError:
        raise ConfigurationError(
            f"No BotPenguin Credentials block named {credentials!r} on this Prefect server; "
            "create it in the UI (Blocks) or with BotPenguinCredentials(...).save(name)."
        ) from None
    return block


async def resolve_account(
    credentials: BotPenguinCredentials | str | None, account: str | None
) -> Account:
    """Load the credentials block (or fall back to settings) and pick the account label.

    The label defaults to the block's name, else ``BOTPENGUIN_ACCOUNT``.
    """
    if credentials is not None and credentials != "":
        block = await load_credentials(credentials)
        name = credentials if isinstance(credentials, str) else block_document_name(block)
        label = account or name or load_settings().account
        return Account(label=label, source=block.base_url, credentials=block)
    settings = load_settings()
    return Account(label=account or settings.account, source=settings.base_url, credentials=None)


async def resolve_filesystem(
    filesystem: WritableFileSystem | str | None,
) -> WritableFileSystem | None:
    """The filesystem block itself, or the one saved as ``BLOCK-TYPE/NAME``; None for none."""
    if isinstance(filesystem, str):
        return await load_filesystem(filesystem) if filesystem else None
    return filesystem


async def resolve_export(
    credentials: BotPenguinCredentials | str | None,
    account: str | None,
    destination: str,
    format: ExportFormat | None,
    filesystem: WritableFileSystem | str | None,
) -> tuple[Account, WritableFileSystem | None]:
    """An export flow's account and filesystem, after checking its destination and format
    first, so a typo fails before any block is loaded or request sent.
    """
    format_for(destination, format)
    return await resolve_account(credentials, account), await resolve_filesystem(filesystem)


async def export_fetched(
    segments: list[Segment],
    account: Account,
    destination: str,
    format: ExportFormat | None,
    filesystem: WritableFileSystem | None,
) -> ExportResult:
    """Export one account's fetched segments, its label and source on the file's asset and
    artifact (the export flow and the sync flow's export step)."""
    return await export_segments.aio(
        segments,
        destination,
        format=format,
        filesystem=filesystem,
        account=account.label,
        source=account.source,
    )


def state_location(state: str, filesystem: WritableFileSystem | None) -> str:
    """Where the watch keeps its state: ``state`` itself, or that path inside a filesystem block.

    The state code speaks fsspec locations, so a block becomes one: a Local File System block
    gives a path under its base path, a Remote File System block a URL under its base path.
    """
    if filesystem is None:
        return state
    try:
        if isinstance(filesystem, LocalFileSystem):
            return str(resolve_path(filesystem, state))
        if isinstance(filesystem, RemoteFileSystem) and not filesystem.settings:
            return str(resolve_path(filesystem, state))
    except ValueError as exc:  # outside the block's base path
        raise ConfigurationError(f"Cannot keep the watch state at {state!r}: {exc}") from None
    if isinstance(filesystem, RemoteFileSystem):
        raise ConfigurationError(
            "The watch state cannot use a Remote File System block with settings (its "
            "credentials would not reach the state code); configure the back-end through its "
            "environment (e.g. AWS_* variables) and leave the block's settings empty, or give "
            "state as an fsspec URL."
        )
    raise ConfigurationError(
        f"The watch state needs a Local or Remote File System block, not a "
        f"{type(filesystem).__name__}; or give state as a local path or fsspec URL."
    )
