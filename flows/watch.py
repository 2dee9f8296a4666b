"""``segments_watch``: tell people and Prefect automations when an account's segments change.

Order matters, so that a failure never loses a change and never reports one twice:

1. fetch; then take the account's watch lock (one watch per account at a time, see
   ``watch_lock``) and load its state (none yet: this run records the baseline). A fetch
   older than the saved snapshot (another watch got there first) reports nothing;
2. a fetch that lost all or most segments is held, not trusted (see ``drop_guard``);
3. diff against the snapshot, emit one Prefect event per change and wait until the API has
   them; publish the change summary artifact;
4. save the new snapshot (atomically) with the change message in its outbox -- only now is
   the change "seen";
5. send every message of the outbox to the targets that have not accepted it yet, and save
   which did (see ``outbox``). A failed notification fails the run *after* all this: the
   message stays in the outbox and goes to that target on the next run.

A run that fails before step 4 leaves the old state, so the next run reports the same
change again (with the same event ids, which Prefect stores once).

With ``members``, who joined and left the watched segments rides along in the same steps
(``prefect_botpenguin.membership``): its events in 3, its counts in the artifact and the
message, its own snapshot of contact ids saved right after the segment snapshot in 4.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prefect import flow, get_run_logger

from .._compat import eager_annotations
from ..change_summary import (
    ChangeMessage,
    changes_artifact_key,
    describe_changes,
    publish_changes_artifact,
)
from ..changes import change_id, emit_change_events
from ..core.diff import SegmentDiff, diff_segments
from ..core.errors import NotificationError
from ..core.membership_diff import MembershipChange
from ..core.models import Segment
from ..core.watch_state import PendingMessage, is_suspicious_drop, load_watch_settings
from ..credentials import BotPenguinCredentials, credentials_reference
from ..drop_guard import report_suspicious_drop
from ..membership import (
    collect_membership,
    emit_membership_events,
    membership_change_id,
    prepare_membership,
    save_membership_snapshot,
)
from ..notifications import check_notification_targets, send_notification
from ..outbox import deliver_pending, pending_message
from ..segments import fetch_segments
from ..snapshots import (
    DEFAULT_STATE_DIR,
    Snapshot,
    load_segments_snapshot,
    save_segments_snapshot,
    snapshot_location,
)
from ..watch_lock import watch_lock
from .common import (
    CredentialsParam,
    FilesystemParam,
    NotifyBlockParam,
    NotifyTarget,
    notification_targets,
    resolve_account,
    resolve_filesystem,
    state_location,
)


@dataclass(frozen=True)
class WatchResult:
    """What one watch run found and did."""

    account: str
    segment_count: int
    snapshot: str
    message: ChangeMessage
    diff: SegmentDiff | None = None
    """None when this run recorded the baseline."""
    event_ids: list[str] = field(default_factory=list)
    notified: list[str] = field(default_factory=list)
    pending: int = 0
    """Change messages some target has not accepted yet (kept for the next run)."""
    held_drop: bool = False
    """The fetch lost too many segments to be trusted yet; nothing was reported."""
    stale: bool = False
    """Another watch saved a newer snapshot meanwhile; this older fetch reported nothing."""
    members: list[MembershipChange] | None = None
    """Who joined and left the watched segments; None when members were not watched."""

    @property
    def baseline(self) -> bool:
        return self.diff is None and not self.held_drop and not self.stale

    @property
    def changed(self) -> bool:
        return (self.diff is not None and bool(self.diff)) or bool(self.members)


async def track_changes(
    segments: list[Segment],
    *,
    account: str,
    state: str = DEFAULT_STATE_DIR,
    notify: list[str] | None = None,
    always_notify: bool = False,
    source: str | None = None,
    fetched_at: datetime | None = None,
    accept_drop: bool = False,
    reset_state: bool = False,
    drop_pending: bool = False,
    membership: dict[str, list[str]] | None = None,
    credentials: BotPenguinCredentials | None = None,
) -> WatchResult:
    """Steps 1-5 of the module docstring for segments already fetched; call it inside a flow.

    A flow that fetched for other reasons too (e.g. a sync) reuses it. Check ``notify`` with
    ``check_notification_targets`` before fetching, so a typo fails before anything is saved;
    pass as ``fetched_at`` the moment the fetch started, so a slower concurrent watch can tell
    that its fetch is older than the snapshot saved meanwhile. ``membership`` (contact ids
    per watched segment, from ``collect_membership``) adds who joined and left them. Pass as
    ``credentials`` the block the segments were fetched with (None: ``BOTPENGUIN_*``
    settings): the events refer to it, so the export they trigger reads the same account.
    """
    settings = load_watch_settings()
    if credentials is not None and credentials_reference(credentials) is None:
        get_run_logger().warning(
            "The credentials block of account %r is not saved, so its change events carry "
            "credentials=null and an export they trigger reads the BOTPENGUIN_* settings; "
            "save the block (.save(NAME)) to have it read this account.",
            account,
        )
    async with watch_lock(account, timeout=settings.watch_lock_timeout, state=state):
        return await _track_locked(
            segments,
            _Run(
                account=account,
                state=state,
                notify=list(notify or []),
                always_notify=always_notify,
                source=source,
                fetched_at=fetched_at or datetime.now(UTC),
                accept_drop=accept_drop,
                drop_guard_share=settings.drop_guard_share,
                drop_guard_runs=settings.drop_guard_runs,
                credentials=credentials,
            ),
            reset_state=reset_state,
            drop_pending=drop_pending,
            membership=membership,
        )


@dataclass(frozen=True)
class _Run:
    account: str
    state: str
    notify: list[str]
    always_notify: bool
    source: str | None
    fetched_at: datetime
    accept_drop: bool
    drop_guard_share: float
    drop_guard_runs: int
    credentials: BotPenguinCredentials | None = None
    """The block the segments came from; events refer to it by name (None: settings)."""


async def _load_state(run: _Run, reset_state: bool) -> Snapshot | None:
    if not reset_state:
        return await load_segments_snapshot.aio(run.account, run.state)
    get_run_logger().warning(
        "reset_state: recording a new baseline at %s; the previous state (snapshot and "
        "undelivered messages) is replaced",
        snapshot_location(run.state, run.account),
    )
    return None


async def _track_locked(
    segments: list[Segment],
    run: _Run,
    *,
    reset_state: bool,
    drop_pending: bool,
    membership: dict[str, list[str]] | None,
) -> WatchResult:
    logger = get_run_logger()
    account = run.account
    previous = await _load_state(run, reset_state)
    previous_at = previous.fetched_at if previous else None
    # A snapshot fetched after this run's fetch began means another watch got there first --
    # unless it is dated after this machine's "now": then it comes from a machine whose
    # clock runs ahead, and is compared as usual (issue: clock skew must not silence a watch).
    if previous is not None and run.fetched_at <= previous.fetched_at <= datetime.now(UTC):
        return _stale(run, previous, segment_count=len(segments))
    pending = list(previous.pending) if previous else []
    if drop_pending and pending:
        logger.warning(
            "Dropping %d undelivered change message(s) as asked: %s",
            len(pending),
            ", ".join(message.id for message in pending),
        )
        pending = []
    diff: SegmentDiff | None = None
    if previous is None:
        # A baseline holding a segment id twice could never be compared, so every later run
        # would fail on it: refuse it now (ChangeDetectionError), before anything is saved.
        diff_segments([], segments)
    else:
        before = [segment.id for segment in previous.segments]
        if not run.accept_drop and is_suspicious_drop(
            before, (segment.id for segment in segments), run.drop_guard_share
        ):
            held = previous.held_drops + 1
            if held < run.drop_guard_runs:
                return await _hold_drop(segments, previous, pending, held, run)
            logger.warning(
                "A drop from %d to %d segment(s) was seen %d run(s) in a row: accepted",
                len(previous.segments),
                len(segments),
                held,
            )
        diff = diff_segments(previous.segments, segments)
    members = None
    if membership is not None:
        members = await prepare_membership.aio(
            membership, account, run.state, segments, run.fetched_at
        )
    event_ids: list[str] = []
    if diff:
        event_ids = await emit_change_events.aio(
            diff,
            account,
            previous_fetched_at=previous_at,
            fetched_at=run.fetched_at,
            credentials=run.credentials,
        )
    if members is not None and members.changed:
        event_ids += await emit_membership_events.aio(members, credentials=run.credentials)
    member_changes = members.changes if members is not None else None
    await publish_changes_artifact.aio(
        diff,
        account,
        segment_count=len(segments),
        previous_fetched_at=previous_at,
        fetched_at=run.fetched_at,
        members=member_changes,
    )
    message = describe_changes(
        diff,
        account,
        segment_count=len(segments),
        previous_fetched_at=previous_at,
        members=member_changes,
    )
    change = change_id(diff, account, previous_fetched_at=previous_at) if diff else None
    if change is None and member_changes:
        change = membership_change_id(member_changes, account, previous_fetched_at=previous_at)
    if change and run.notify and change not in {message.id for message in pending}:
        pending.append(pending_message(change, message, run.notify, created_at=run.fetched_at))
    save = _saver(segments, run, fetched_at=run.fetched_at, source=run.source)
    location = await save(pending)
    if members is not None:
        await save_membership_snapshot.aio(members)
    logger.info("%s", message.subject)
    notified, still, failures = await _deliver(run, pending, change, save)
    if run.notify and run.always_notify and not change:  # quiet or baseline: not kept
        try:
            notified += await send_notification.aio(
                message.body, run.notify, subject=message.subject
            )
        except NotificationError as exc:
            failures.append(str(exc))
    if failures:
        raise NotificationError(
            f"{' | '.join(failures)} Nothing is lost: the snapshot {location} is saved, this "
            f"run's changes are in the {changes_artifact_key(account)!r} artifact, and "
            f"{still} undelivered change message(s) stay in its outbox for the next run."
        )
    return WatchResult(
        account=account,
        segment_count=len(segments),
        snapshot=location,
        message=message,
        diff=diff,
        event_ids=event_ids,
        notified=notified,
        pending=still,
        members=member_changes,
    )


def _saver(
    segments: list[Segment] | tuple[Segment, ...],
    run: _Run,
    *,
    fetched_at: datetime,
    source: str | None,
    held_drops: int = 0,
) -> Callable[[list[PendingMessage]], Awaitable[str]]:
    """Save these segments as the account's state with a given outbox."""

    async def save(pending: list[PendingMessage]) -> str:
        return await save_segments_snapshot.aio(
            list(segments),
            run.account,
            run.state,
            fetched_at=fetched_at,
            source=source,
            pending=pending,
            held_drops=held_drops,
        )

    return save


async def _deliver(
    run: _Run,
    pending: list[PendingMessage],
    change: str | None,
    save: Callable[[list[PendingMessage]], Awaitable[str]],
) -> tuple[list[str], int, list[str]]:
    """Send the outbox, then save which targets accepted; (sent to, still pending, failures)."""
    if not pending:
        return [], 0, []
    delivery = await deliver_pending(pending, run.notify, current=change)
    if delivery.changed:
        await save(delivery.pending)
    return delivery.sent, len(delivery.pending), delivery.failures


async def _hold_drop(
    segments: list[Segment],
    previous: Snapshot,
    pending: list[PendingMessage],
    held: int,
    run: _Run,
) -> WatchResult:
    """Keep the previous snapshot, count the held run, tell Prefect; report no change."""
    before = {segment.id for segment in previous.segments}
    lost = len(before - {segment.id for segment in segments})
    event = await report_suspicious_drop(
        run.account,
        previous_count=len(previous.segments),
        current_count=len(segments),
        lost=lost,
        held_runs=held,
        runs_needed=run.drop_guard_runs,
        previous_fetched_at=previous.fetched_at,
        fetched_at=run.fetched_at,
        credentials=run.credentials,
    )
    save = _saver(
        previous.segments,
        run,
        fetched_at=previous.fetched_at,
        source=previous.source,
        held_drops=held,
    )
    location = await save(pending)
    notified, still, failures = await _deliver(run, pending, None, save)
    message = ChangeMessage(
        subject=(
            f"BotPenguin {run.account}: suspicious drop held "
            f"({len(segments)} of {len(previous.segments)} segments returned)"
        ),
        body=(
            f'Account "{run.account}": the API returned {len(segments)} segment(s) where the '
            f"snapshot has {len(previous.segments)} ({lost} missing). Nothing was reported and "
            f"the snapshot is kept; the drop is accepted if {run.drop_guard_runs - held} more "
            "run(s) in a row see it, or now with --accept-drop."
        ),
    )
    if failures:
        raise NotificationError(
            f"{' | '.join(failures)} Nothing is lost: {still} undelivered change message(s) "
            f"stay in the outbox of {location} for the next run."
        )
    return WatchResult(
        account=run.account,
        segment_count=len(segments),
        snapshot=location,
        message=message,
        event_ids=[event] if event else [],
        notified=notified,
        pending=still,
        held_drop=True,
    )


def _stale(run: _Run, previous: Snapshot, *, segment_count: int) -> WatchResult:
    """Another watch saved a newer snapshot while this one fetched: it reported the change."""
    get_run_logger().warning(
        "Another watch of account %r saved a snapshot fetched at %s, after this run's fetch "
        "(%s) began; this older fetch reports nothing.",
        run.account,
        previous.fetched_at.isoformat(),
        run.fetched_at.isoformat(),
    )
    return WatchResult(
        account=run.account,
        segment_count=segment_count,
        snapshot=snapshot_location(run.state, run.account),
        message=ChangeMessage(
            subject=f"BotPenguin {run.account}: nothing to report (a newer snapshot exists)",
            body=(
                f'Account "{run.account}": another watch saved a newer snapshot while this run '
                "fetched, and reported any change itself."
            ),
        ),
        pending=len(previous.pending),
        stale=True,
    )


@flow(name="botpenguin-segments-watch", log_prints=False)
@eager_annotations
async def segments_watch(
    credentials: CredentialsParam = None,
    account: str | None = None,
    state: str = DEFAULT_STATE_DIR,
    state_filesystem: FilesystemParam = None,
    notify: list[NotifyTarget] | None = None,
    notify_block: NotifyBlockParam = None,
    always_notify: bool = False,
    accept_drop: bool = False,
    reset_state: bool = False,
    drop_pending: bool = False,
    members: list[str] | None = None,
) -> WatchResult:
    """Fetch an account's segments, report what changed since the last run, and notify.

    Prefect's UI shows the Args below as each parameter's help text.

    Args:
        credentials: A saved BotPenguin Credentials block (pick one; its name also works).
            Leave empty to use the BOTPENGUIN_API_TOKEN and BOTPENGUIN_BASE_URL environment
            variables.
        account: Label for this account in snapshots, events and artifact keys; defaults to
            the block name, else BOTPENGUIN_ACCOUNT.
        state: Directory that keeps one snapshot per account: a local path or an fsspec URL
            such as s3://bucket/botpenguin (the back-end's package must be installed), or a
            path inside state_filesystem.
        state_filesystem: A saved filesystem block holding the state directory (pick one, or
            give BLOCK-TYPE/NAME): shared storage lets any worker run the watch. Leave empty
            for state alone.
        notify: Where to send the change message: names of saved notification blocks (Slack,
            Teams, Custom Webhook, ...) and/or Apprise URLs such as slack://... . URLs given
            here are stored with the flow run, so keep secret ones in a block.
        notify_block: One more target: a saved Slack, Teams, Discord or Custom Webhook
            block, picked from a list. The run keeps a reference to it, not its secrets.
        always_notify: Send a message on every run, also when nothing changed or a baseline
            was recorded.
        accept_drop: Trust a fetch that lost all or most segments at once, instead of holding
            it until the next run sees it too.
        reset_state: Record a new baseline on purpose, replacing the saved state (e.g. one
            that is corrupted, of another account or of a newer format).
        drop_pending: Give up on change messages that earlier runs could not deliver.
        members: Also report who joined and left segments: segment ids, or ["all"]. Their
            contact ids (ids only) are kept in a second snapshot beside the segments'; events,
            artifact and message carry counts and a few ids, never contact details.
    """
    location = state_location(state, await resolve_filesystem(state_filesystem))
    targets = notification_targets(notify, notify_block)
    target = await resolve_account(credentials, account)
    if targets:
        await check_notification_targets.aio(targets)  # fail before anything is saved
    fetched_at = datetime.now(UTC)
    segments = await fetch_segments.aio(target.credentials)
    membership = None
    if members:
        membership = await collect_membership(target.credentials, members, segments)
    return await track_changes(
        segments,
        account=target.label,
        state=location,
        notify=targets,
        always_notify=always_notify,
        source=target.source,
        fetched_at=fetched_at,
        accept_drop=accept_drop,
        reset_state=reset_state,
        drop_pending=drop_pending,
        membership=membership,
        credentials=target.credentials,
    )
