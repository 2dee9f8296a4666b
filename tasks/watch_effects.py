"""The watch's effects: what ``core.watch.decide`` decided, performed with Prefect.

Each function performs one verdict in the order that never loses a change nor reports one
twice: events (and wait until the API has them), the artifact, the save with this run's
message in the outbox (only now is the change "seen"), then delivery, whose progress is saved
too. A failed notification fails the run after all this; the message stays in the outbox.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from prefect import get_run_logger

from .change_summary import ChangeMessage, changes_artifact_key, publish_changes_artifact
from .changes import change_id, emit_change_events
from .core.change_kinds import load_change_kind_rules
from .core.diff import SegmentDiff
from .core.errors import NotificationError
from .core.membership_diff import MembershipChange
from .core.size_history import load_retention_policy
from .core.thresholds import load_size_threshold
from .core.watch import (
    Fetch,
    NextState,
    WatchDecision,
    WatchOptions,
    held_message,
    owe,
    stale_message,
)
from .core.watch_state import PendingMessage, WatchSettings
from .credentials import BotPenguinCredentials
from .drop_guard import report_suspicious_drop
from .history_artifacts import trend_table
from .history_events import emit_history_events, history_event_specs
from .history_state import save_size_history
from .membership import (
    emit_membership_events,
    membership_change_id,
    prepare_membership,
    save_membership_snapshot,
)
from .notifications import send_notification
from .outbox import deliver_pending
from .run_summary import describe_run, history_notes
from .snapshots import save_segments_snapshot, snapshot_location

Save = Callable[[list[PendingMessage]], Awaitable[str]]


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
    notable: bool = False
    """The segments changed in a way worth a message (not only bookkeeping or size drift)."""
    resized: list[str] = field(default_factory=list)
    """Ids of the segments whose size moved past the threshold since the previous run."""
    history: str | None = None
    """Where this run recorded the segments' sizes (None: it recorded none)."""

    @property
    def baseline(self) -> bool:
        return self.diff is None and not self.held_drop and not self.stale

    @property
    def changed(self) -> bool:
        return (self.diff is not None and bool(self.diff)) or bool(self.members)


def with_settings(options: WatchOptions, settings: WatchSettings) -> WatchOptions:
    """``options`` with the drop guard's settings, and kinds, threshold and retention from
    the ``BOTPENGUIN_*`` settings where the caller left them None."""
    return replace(
        options,
        drop_guard_share=settings.drop_guard_share,
        drop_guard_runs=settings.drop_guard_runs,
        kinds=options.kinds or load_change_kind_rules(),
        threshold=options.threshold or load_size_threshold(),
        retention=options.retention or load_retention_policy(),
    )


async def report_changes(
    decision: WatchDecision,
    fetch: Fetch,
    account: str,
    state: str,
    opts: WatchOptions,
    membership: dict[str, list[str]] | None,
    credentials: BotPenguinCredentials | None,
) -> WatchResult:
    """Perform a baseline or compared run: events, artifact, save, outbox delivery."""
    logger = get_run_logger()
    segments = list(fetch.segments)
    if decision.held is not None:
        logger.warning(
            "A drop from %d to %d segment(s) was seen %d run(s) in a row: accepted",
            decision.held.previous_count,
            decision.held.current_count,
            decision.held.held_runs,
        )
    save = saver(decision.next_state, account, state)
    members = None
    if membership is not None:
        members = await prepare_membership.aio(
            membership, account, state, segments, fetch.fetched_at
        )
    diff, previous_at = decision.diff, decision.previous_fetched_at
    change = None
    if diff is not None and decision.notifies:
        change = change_id(diff, account, previous_fetched_at=previous_at)
    event_ids: list[str] = []
    if diff:
        event_ids = await emit_change_events.aio(
            diff,
            account,
            previous_fetched_at=previous_at,
            fetched_at=fetch.fetched_at,
            credentials=credentials,
            classified=decision.classified,
            announced=change is not None,
        )
    event_ids += await emit_history_events(
        history_event_specs(
            account,
            resizes=decision.resizes,
            drift=decision.drift,
            names={segment.id: segment.name for segment in segments},
            change=change,
            previous_fetched_at=previous_at,
            fetched_at=fetch.fetched_at,
            credentials=credentials,
        )
    )
    if members is not None and members.changed:
        event_ids += await emit_membership_events.aio(members, credentials=credentials)
    member_changes = members.changes if members is not None else None
    await publish_changes_artifact.aio(
        diff,
        account,
        segment_count=len(segments),
        previous_fetched_at=previous_at,
        fetched_at=fetch.fetched_at,
        members=member_changes,
        kinds=opts.kinds,
        notes=history_notes(decision, decision.history),
        trend=trend_table(decision.history, segments),  # with this run's sizes
    )
    message = describe_run(
        decision,
        account,
        segment_count=len(segments),
        history=decision.history,
        members=member_changes,
    )
    if change is None and member_changes:
        change = membership_change_id(member_changes, account, previous_fetched_at=previous_at)
    pending = owe(
        decision.pending, change, message.subject, message.body, opts.notify, fetch.fetched_at
    )
    location = await save(pending)
    history = None
    if decision.history is not None:
        history = await save_size_history(decision.history, account, state)
    if members is not None:
        await save_membership_snapshot.aio(members)
    logger.info("%s", message.subject)
    notified, still, failures = await deliver(opts.notify, pending, change, save)
    if opts.notify and opts.always_notify and not change:  # quiet or baseline: not kept
        try:
            notified += await send_notification.aio(
                message.body, list(opts.notify), subject=message.subject
            )
        except NotificationError as exc:
            failures.append(str(exc))
    if failures:
        raise NotificationError(
            f"{' | '.join(failures)} Nothing is lost: the snapshot {location} is saved, "
            f"this run's changes are in the {changes_artifact_key(account)!r} artifact, "
            f"and {still} undelivered change message(s) stay in its outbox for the next run."
        )
    return WatchResult(
        account,
        len(segments),
        location,
        message,
        diff,
        event_ids,
        notified,
        still,
        members=member_changes,
        notable=decision.notifies,
        resized=list(decision.resizes),
        history=history,
    )


def saver(state_to_save: NextState | None, account: str, state: str) -> Save:
    """Save the decided state with a given outbox (delivery may change the outbox)."""
    assert state_to_save is not None  # only a stale run saves nothing, and it returned

    async def save(pending: list[PendingMessage]) -> str:
        return await save_segments_snapshot.aio(
            list(state_to_save.segments),
            account,
            state,
            fetched_at=state_to_save.fetched_at,
            source=state_to_save.source,
            pending=pending,
            held_drops=state_to_save.held_drops,
        )

    return save


async def deliver(
    targets: tuple[str, ...], pending: list[PendingMessage], change: str | None, save: Save
) -> tuple[list[str], int, list[str]]:
    """Send the outbox, then save which targets accepted; (sent to, still pending, failures)."""
    if not pending:
        return [], 0, []
    delivery = await deliver_pending(pending, list(targets), current=change)
    if delivery.changed:
        await save(delivery.pending)
    return delivery.sent, len(delivery.pending), delivery.failures


async def hold_drop(
    decision: WatchDecision,
    fetch: Fetch,
    account: str,
    opts: WatchOptions,
    save: Save,
    credentials: BotPenguinCredentials | None,
) -> WatchResult:
    """Keep the previous snapshot, count the held run, tell Prefect; report no change."""
    held, previous_at = decision.held, decision.previous_fetched_at
    assert held is not None  # a HELD verdict carries it
    assert previous_at is not None
    event = await report_suspicious_drop(
        account,
        held,
        previous_fetched_at=previous_at,
        fetched_at=fetch.fetched_at,
        credentials=credentials,
    )
    location = await save(list(decision.pending))
    notified, still, failures = await deliver(opts.notify, list(decision.pending), None, save)
    if failures:
        raise NotificationError(
            f"{' | '.join(failures)} Nothing is lost: {still} undelivered change message(s) "
            f"stay in the outbox of {location} for the next run."
        )
    return WatchResult(
        account,
        len(fetch.segments),
        location,
        ChangeMessage(*held_message(account, held)),
        event_ids=[event] if event else [],
        notified=notified,
        pending=still,
        held_drop=True,
    )


def stale_result(decision: WatchDecision, fetch: Fetch, account: str, state: str) -> WatchResult:
    """Another watch saved a newer snapshot while this one fetched: it reported the change."""
    previous_at = decision.previous_fetched_at
    get_run_logger().warning(
        "Another watch of account %r saved a snapshot fetched at %s, after this run's fetch "
        "(%s) began; this older fetch reports nothing.",
        account,
        previous_at.isoformat() if previous_at else None,
        fetch.fetched_at.isoformat(),
    )
    return WatchResult(
        account,
        len(fetch.segments),
        snapshot_location(state, account),
        ChangeMessage(*stale_message(account)),
        pending=len(decision.pending),
        stale=True,
    )
