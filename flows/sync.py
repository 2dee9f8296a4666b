"""``segments_sync``: the automation people schedule -- one fetch feeding every step.

Fetch once, then (each switched by a parameter) publish artifacts, export, and watch for
changes. Steps run in that order and independently: an export that fails does not stop the
change alert, and a failed notification comes last, after the export and the snapshot are
written. The run fails if any step failed, naming each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from prefect import get_run_logger
from pydantic import BaseModel, ConfigDict, Field

from ..artifacts import publish_segments_artifact
from ..core.errors import BotPenguinError, SyncStepsFailedError
from ..core.formats import ExportFormat, format_for
from ..core.watch import WatchOptions
from ..exports import ExportResult
from ..history import read_trend_history
from ..notifications import check_notification_targets
from ..segments import fetch_segments
from ..snapshots import DEFAULT_STATE_DIR
from .common import (
    CredentialsParam,
    FilesystemParam,
    NotifyBlockParam,
    NotifyTarget,
    export_fetched,
    resolve_account,
    resolve_filesystem,
)
from .pack_flow import pack_flow
from .watch import WatchResult
from .watch_step import watch_fetched, watch_places


class ExportStep(BaseModel):
    """Whether and where the sync writes an export."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="Write an export on every run.")
    destination: str = Field(
        default="exports/botpenguin-segments.csv",
        min_length=1,
        description=(
            "A local path (relative to the worker's directory), an fsspec URL such as "
            "s3://bucket/segments.parquet, or a path inside the filesystem block."
        ),
    )
    format: ExportFormat | None = Field(
        default=None,
        description="csv, json, jsonl or parquet; empty takes it from the extension.",
    )
    filesystem: FilesystemParam = Field(
        default=None,
        description=(
            "A saved filesystem block to write into (or BLOCK-TYPE/NAME); empty writes to the "
            "destination directly."
        ),
    )


class WatchStep(BaseModel):
    """Whether the sync compares with the last snapshot, emits events and notifies."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=True, description="Diff against the last snapshot and emit change events."
    )
    state: str = Field(
        default=DEFAULT_STATE_DIR,
        min_length=1,
        description=(
            "Directory (local path, fsspec URL, or path inside state_filesystem) keeping one "
            "snapshot per account."
        ),
    )
    state_filesystem: FilesystemParam = Field(
        default=None,
        description=(
            "A saved filesystem block holding the state directory (or BLOCK-TYPE/NAME): shared "
            "storage lets any worker run the sync. Empty: state alone."
        ),
    )
    notify: list[NotifyTarget] = Field(
        default_factory=list,
        description=(
            "Saved notification block names and/or Apprise URLs to tell about changes; URLs "
            "given here are stored with the flow run, so keep secret ones in a block."
        ),
    )
    notify_block: NotifyBlockParam = Field(
        default=None,
        description=(
            "One more target: a saved Slack, Teams, Discord or Custom Webhook block, picked "
            "from a list; the run keeps a reference to it, not its secrets."
        ),
    )
    always_notify: bool = Field(
        default=False, description="Send a message on every run, also when nothing changed."
    )
    members: list[str] | None = Field(
        default=None,
        description=(
            'Also report who joined and left segments: segment ids, or ["all"]; empty: off. '
            "Contact ids are kept beside the snapshot; messages carry counts only."
        ),
    )
    accept_drop: bool = Field(
        default=False,
        description=(
            "Trust a fetch that lost all or most segments at once, instead of holding it until "
            "the next run sees it too."
        ),
    )
    reset_state: bool = Field(
        default=False,
        description=(
            "Record a new baseline on purpose, replacing the saved state (e.g. one that is "
            "corrupted, of another account or of a newer format)."
        ),
    )
    drop_pending: bool = Field(
        default=False,
        description="Give up on change messages that earlier runs could not deliver.",
    )


@dataclass(frozen=True)
class SyncResult:
    """What one sync run did; ``None`` for a step that was switched off."""

    account: str
    segment_count: int
    artifact_key: str | None
    export: ExportResult | None
    watch: WatchResult | None


@pack_flow("botpenguin-segments-sync")
async def segments_sync(
    credentials: CredentialsParam = None,
    account: str | None = None,
    publish_artifacts: bool = True,
    export: ExportStep | None = None,
    watch: WatchStep | None = None,
) -> SyncResult:
    """Fetch an account's segments once, then publish, export and watch them.

    Prefect's UI shows the Args below as each parameter's help text.

    Args:
        credentials: {CREDENTIALS_HELP}
        account: Label for this account in artifact keys, snapshots and events; defaults to
            the block name, else BOTPENGUIN_ACCOUNT.
        publish_artifacts: Publish the segments table and summary artifacts.
        export: The export step (off unless enabled).
        watch: The change-detection and notification step (on by default).
    """
    export = export or ExportStep()
    watch = watch or WatchStep()
    logger = get_run_logger()
    # Everything that can be checked without the API is checked first, so a typo in a
    # destination or a notification target fails before anything is fetched or written.
    if export.enabled:
        format_for(export.destination, export.format)
    filesystem = await resolve_filesystem(export.filesystem)
    state, targets = await watch_places(
        watch.state, watch.state_filesystem, watch.notify, watch.notify_block
    )
    if watch.enabled and targets:
        await check_notification_targets.aio(targets)
    target = await resolve_account(credentials, account)

    fetched_at = datetime.now(UTC)
    segments = await fetch_segments.aio(target.credentials)
    failures: list[tuple[str, BotPenguinError]] = []

    artifact_key = None
    if publish_artifacts:
        artifact_key = await publish_segments_artifact.aio(
            segments,
            account=target.label,
            source=target.source,
            history=await read_trend_history(target.label, state),  # as the report draws it
        )
    export_result = None
    if export.enabled:
        try:
            export_result = await export_fetched(
                segments, target, export.destination, export.format, filesystem
            )
        except BotPenguinError as exc:
            logger.error("Export step failed: %s", exc)
            failures.append(("export", exc))
    watch_result = None
    if watch.enabled:
        try:
            options = WatchOptions(
                notify=tuple(targets),
                always_notify=watch.always_notify,
                accept_drop=watch.accept_drop,
                reset_state=watch.reset_state,
                drop_pending=watch.drop_pending,
                source=target.source,
                fetched_at=fetched_at,
            )
            watch_result = await watch_fetched(segments, target, state, options, watch.members)
        except BotPenguinError as exc:
            logger.error("Watch step failed: %s", exc)
            failures.append(("watch", exc))

    if len(failures) == 1:
        raise failures[0][1]
    if failures:
        raise SyncStepsFailedError(
            f"{len(failures)} sync steps failed: "
            + "; ".join(f"{step}: {exc}" for step, exc in failures)
        )
    return SyncResult(
        account=target.label,
        segment_count=len(segments),
        artifact_key=artifact_key,
        export=export_result,
        watch=watch_result,
    )
