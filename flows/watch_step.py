"""The watch step, shared by ``segments_watch`` and the sync's watch step: where the state
lives and whom to tell (``watch_places``), then one watch run on segments already fetched
(``watch_fetched``, ``track_changes``), performing ``core.watch.decide``'s decisions in the
order ``flows.watch`` describes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import get_run_logger
from prefect.blocks.abstract import NotificationBlock
from prefect.filesystems import WritableFileSystem

from ..core.models import Segment
from ..core.watch import Fetch, Recorded, Verdict, WatchOptions, decide
from ..core.watch_state import load_watch_settings
from ..credentials import BotPenguinCredentials, credentials_reference
from ..history_state import load_size_history
from ..membership import collect_membership
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
    NotifyTarget,
    notification_targets,
    resolve_filesystem,
    state_location,
)

__all__ = ["track_changes", "watch_fetched", "watch_places"]


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
