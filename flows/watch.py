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

from ..core.thresholds import load_size_threshold
from ..core.watch import WatchOptions
from ..notifications import check_notification_targets
from ..segments import fetch_segments
from ..snapshots import DEFAULT_STATE_DIR
from ..watch_effects import WatchResult
from .common import (
    CredentialsParam,
    FilesystemParam,
    NotifyBlockParam,
    NotifyTarget,
    resolve_account,
)
from .pack_flow import pack_flow
from .watch_step import track_changes, watch_fetched, watch_places

__all__ = ["WatchResult", "segments_watch", "track_changes"]


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
