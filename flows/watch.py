"""``segments_watch``: tell people and Prefect automations when an account's segments change.

Order matters, so that a failure never loses a change:

1. fetch, then diff against the last snapshot (none yet: this run records the baseline);
2. emit one Prefect event per change and wait until the API has them;
3. publish the change summary artifact;
4. save the new snapshot (atomically) -- only now is the change "seen";
5. notify, when something changed (or always, if asked). A failed notification fails the run
   *after* the snapshot is safe: the artifact and the events still hold the change.

A run that fails before step 4 leaves the old snapshot, so the next run reports the same
change again (with the same event ids, which Prefect stores once).

With ``members``, who joined and left the watched segments rides along in the same steps
(``prefect_botpenguin.membership``): its events in 2, its counts in 3 and 5, its own
snapshot of contact ids saved right after the segment snapshot in 4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from prefect import flow, get_run_logger

from ..change_summary import (
    ChangeMessage,
    changes_artifact_key,
    describe_changes,
    publish_changes_artifact,
)
from ..changes import emit_change_events
from ..core.diff import SegmentDiff, diff_segments
from ..core.errors import NotificationError
from ..core.membership_diff import MembershipChange
from ..core.models import Segment
from ..membership import (
    collect_membership,
    emit_membership_events,
    prepare_membership,
    save_membership_snapshot,
)
from ..notifications import check_notification_targets, send_notification
from ..segments import fetch_segments
from ..snapshots import DEFAULT_STATE_DIR, load_segments_snapshot, save_segments_snapshot
from .common import resolve_account


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
    members: list[MembershipChange] | None = None
    """Who joined and left watched segments; None when not watched or on their baseline."""

    @property
    def baseline(self) -> bool:
        return self.diff is None

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
    membership: dict[str, list[str]] | None = None,
) -> WatchResult:
    """Steps 1-5 of the module docstring for segments already fetched; call it inside a flow.

    A flow that fetched for other reasons too (e.g. a sync) reuses it. Check ``notify`` with
    ``check_notification_targets`` before fetching, so a typo fails before anything is saved.
    ``membership`` (contact ids per watched segment, from ``collect_membership``) adds who
    joined and left them.
    """
    logger = get_run_logger()
    fetched_at = fetched_at or datetime.now(UTC)
    previous = await load_segments_snapshot.aio(account, state)
    previous_at = previous.fetched_at if previous else None
    diff: SegmentDiff | None = None
    if previous is None:
        # A baseline holding a segment id twice could never be compared, so every later run
        # would fail on it: refuse it now (ChangeDetectionError), before anything is saved.
        diff_segments([], segments)
    else:
        diff = diff_segments(previous.segments, segments)
    members = None
    if membership is not None:
        members = await prepare_membership.aio(membership, account, state, segments, fetched_at)
    event_ids: list[str] = []
    if diff:
        event_ids = await emit_change_events.aio(
            diff,
            account,
            previous_fetched_at=previous_at,
            fetched_at=fetched_at,
        )
    if members is not None and members.changed:
        event_ids += await emit_membership_events.aio(members)
    member_changes = members.changes if members is not None else None
    await publish_changes_artifact.aio(
        diff,
        account,
        segment_count=len(segments),
        previous_fetched_at=previous_at,
        fetched_at=fetched_at,
        members=member_changes,
    )
    location = await save_segments_snapshot.aio(
        segments, account, state, fetched_at=fetched_at, source=source
    )
    if members is not None:
        await save_membership_snapshot.aio(members)
    message = describe_changes(
        diff,
        account,
        segment_count=len(segments),
        previous_fetched_at=previous_at,
        members=member_changes,
    )
    logger.info("%s", message.subject)
    notified: list[str] = []
    if notify and (bool(diff) or bool(member_changes) or always_notify):
        try:
            notified = await send_notification.aio(message.body, notify, subject=message.subject)
        except NotificationError as exc:
            raise NotificationError(
                f"{exc} Nothing is lost: the snapshot {location} is saved and this run's "
                f"changes are in the {changes_artifact_key(account)!r} artifact."
            ) from None
    return WatchResult(
        account=account,
        segment_count=len(segments),
        snapshot=location,
        message=message,
        diff=diff,
        event_ids=event_ids,
        notified=notified,
        members=member_changes,
    )


@flow(name="botpenguin-segments-watch", log_prints=False)
async def segments_watch(
    credentials: str | None = None,
    account: str | None = None,
    state: str = DEFAULT_STATE_DIR,
    notify: list[str] | None = None,
    always_notify: bool = False,
    members: list[str] | None = None,
) -> WatchResult:
    """Fetch an account's segments, report what changed since the last run, and notify.

    Prefect's UI shows the Args below as each parameter's help text.

    Args:
        credentials: Name of a saved BotPenguin Credentials block. Leave empty to use the
            BOTPENGUIN_API_TOKEN and BOTPENGUIN_BASE_URL environment variables.
        account: Label for this account in snapshots, events and artifact keys; defaults to
            the block name, else BOTPENGUIN_ACCOUNT.
        state: Directory that keeps one snapshot per account: a local path or an fsspec URL
            such as s3://bucket/botpenguin (the back-end's package must be installed).
        notify: Where to send the change message: names of saved notification blocks (Slack,
            Teams, Custom Webhook, ...) and/or Apprise URLs such as slack://... . URLs given
            here are stored with the flow run, so keep secret ones in a block.
        always_notify: Send a message on every run, also when nothing changed or a baseline
            was recorded.
        members: Also report who joined and left segments: segment ids, or ["all"]. Their
            contact ids (ids only) are kept in a second snapshot beside the segments'; events,
            artifact and message carry counts and a few ids, never contact details.
    """
    target = await resolve_account(credentials, account)
    if notify:
        await check_notification_targets.aio(notify)  # fail before anything is saved
    segments = await fetch_segments.aio(target.credentials)
    membership = None
    if members:
        membership = await collect_membership(target.credentials, members, segments)
    return await track_changes(
        segments,
        account=target.label,
        state=state,
        notify=notify,
        always_notify=always_notify,
        source=target.source,
        membership=membership,
    )
