"""``segments_watch``: tell people and Prefect automations when an account's segments change.

The decisions (staleness, drop guard, diff and its kinds, resizes, outbox, next state and
size history) are ``core.watch.decide``; this module performs them, in an order that never
loses a change nor reports one twice: fetch; take the account's lock (``watch_lock``) and
load its state and history; decide; emit the events and wait until the API has them;
publish the artifact; save the new state with this run's message in its outbox (only now is
the change "seen"), then the history; send the outbox and save which targets accepted
(``outbox``). A failed notification fails the run after all this: the message stays
in the outbox for the next run. A run that fails before the save leaves the old state, so the
next run reports the same change again with the same event ids, which Prefect stores once.
With ``members``, who joined and left the watched segments rides along
(``prefect_botpenguin.membership``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import get_run_logger
from prefect.blocks.abstract import NotificationBlock
from prefect.filesystems import WritableFileSystem

from ..core.models import Segment
from ..core.thresholds import load_size_threshold
from ..core.watch import Fetch, Recorded, Verdict, WatchOptions, decide
from ..core.watch_state import load_watch_settings
from ..credentials import BotPenguinCredentials, credentials_reference
from ..history_state import load_size_history
from ..membership import collect_membership
from ..notifications import check_notification_targets
from ..segments import fetch_segments
from ..snapshots import DEFAULT_STATE_DIR, load_segments_snapshot, snapshot_location
from ..watch_effects import (
    WatchResult,
    hold_drop,
    report_changes,
    saver,
    stale_result,
    with_settings,
)
from ..watch_lock import watch_lock
from .common import (
    Account,
    CredentialsParam,
    FilesystemParam,
    NotifyBlockParam,
    NotifyTarget,
    notification_targets,
    resolve_account,
    resolve_filesystem,
    state_location,
)
from .pack_flow import pack_flow

__all__ = ["WatchResult", "segments_watch", "track_changes"]


async def track_changes(
    segments: list[Segment],
    *,
    account: str,
    state: str = DEFAULT_STATE_DIR,
    options: WatchOptions | None = None,
    membership: dict[str, list[str]] | None = None,
    credentials: BotPenguinCredentials | None = None,
) -> WatchResult:
    """Decide and perform one watch run on segments already fetched; call it inside a flow.

    Check ``options.notify`` with ``check_notification_targets`` before fetching, so a typo
    fails before anything is saved. ``membership`` (contact ids per watched segment, from
    ``collect_membership``) adds who joined and left them. ``credentials``: the block the
    segments came from (None: ``BOTPENGUIN_*`` settings), which the events refer to.
    Change kinds, thresholds and retention left None in ``options`` come from the settings.
    """
    settings = load_watch_settings()
    opts = with_settings(options or WatchOptions(), settings)
    logger = get_run_logger()
    if credentials is not None and credentials_reference(credentials) is None:
        logger.warning(
            "The credentials block of account %r is not saved, so its change events carry "
            "credentials=null and an export they trigger reads the BOTPENGUIN_* settings; "
            "save the block (.save(NAME)) to have it read this account.",
            account,
        )
    fetch = Fetch(tuple(segments), opts.fetched_at or datetime.now(UTC))
    async with watch_lock(account, timeout=settings.watch_lock_timeout, state=state):
        previous = None
        if opts.reset_state:
            logger.warning(
                "reset_state: recording a new baseline at %s; the previous state (snapshot "
                "and undelivered messages) is replaced",
                snapshot_location(state, account),
            )
        else:
            previous = await load_segments_snapshot.aio(account, state)
        counts = {key: len(ids) for key, ids in (membership or {}).items()}
        recorded = Recorded(account, await load_size_history(account, state), counts)
        decision = decide(previous, fetch, opts, datetime.now(UTC), recorded)
        if decision.dropped:
            logger.warning(
                "Dropping %d undelivered change message(s) as asked: %s",
                len(decision.dropped),
                ", ".join(decision.dropped),
            )
        if decision.verdict is Verdict.STALE:
            return stale_result(decision, fetch, account, state)
        if decision.verdict is Verdict.HELD:
            save = saver(decision.next_state, account, state)
            return await hold_drop(decision, fetch, account, opts, save, credentials)
        return await report_changes(decision, fetch, account, state, opts, membership, credentials)


@pack_flow("botpenguin-segments-watch")
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
    resize_relative: float | None = None,
    resize_absolute: int | None = None,
) -> WatchResult:
    """Fetch an account's segments, report what changed since the last run, and notify.

    Prefect's UI shows the Args below as each parameter's help text.

    Args:
        credentials: {CREDENTIALS_HELP}
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
            Their member counts also feed the size history of segments the API sends no
            count for.
        resize_relative: Percent a segment's size must move since the previous run to
            notify (with resize_absolute). Leave empty for BOTPENGUIN_RESIZE_RELATIVE (10).
        resize_absolute: Contacts a segment must gain or lose to notify (with
            resize_relative). Leave empty for BOTPENGUIN_RESIZE_ABSOLUTE (10).
    """
    location, targets = await watch_places(state, state_filesystem, notify, notify_block)
    target = await resolve_account(credentials, account)
    threshold = load_size_threshold(resize_relative, resize_absolute)  # bad values fail here
    if targets:
        await check_notification_targets.aio(targets)  # fail before anything is saved
    fetched_at = datetime.now(UTC)
    segments = await fetch_segments.aio(target.credentials)
    options = WatchOptions(
        tuple(targets),
        always_notify,
        accept_drop,
        reset_state,
        drop_pending,
        source=target.source,
        fetched_at=fetched_at,
        threshold=threshold,
    )
    return await watch_fetched(segments, target, location, options, members)


async def watch_places(
    state: str,
    state_filesystem: WritableFileSystem | str | None,
    notify: list[NotifyTarget] | None,
    notify_block: NotificationBlock | str | None,
) -> tuple[str, list[str]]:
    """Where the watch keeps its state (as a location) and whom it tells (as text): the watch
    flow's parameters and the sync's watch step resolve alike, before anything is fetched."""
    location = state_location(state, await resolve_filesystem(state_filesystem))
    return location, notification_targets(notify, notify_block)


async def watch_fetched(
    segments: list[Segment],
    target: Account,
    state: str,
    options: WatchOptions,
    members: list[str] | None,
) -> WatchResult:
    """``track_changes`` for the account ``resolve_account`` picked, on segments it just
    fetched: the watch flow's step, and the sync's. The members of ``members`` (segment ids,
    or ``["all"]``) are collected first, so who joined and left rides along."""
    membership = None
    if members:
        membership = await collect_membership(target.credentials, members, segments)
    return await track_changes(
        segments,
        account=target.label,
        state=state,
        options=options,
        membership=membership,
        credentials=target.credentials,
    )
