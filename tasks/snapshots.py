"""Snapshots as Prefect tasks: load an account's last fetch, save the new one.

The model, its file format and the atomic read and write are in ``core.snapshot`` (no
Prefect); the names are re-exported here, where the pack's tasks and flows have always
found them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from prefect import get_run_logger

from ._dispatch import dual_task
from .core.locations import display_location as display_location
from .core.models import Segment
from .core.snapshot import DEFAULT_STATE_DIR as DEFAULT_STATE_DIR
from .core.snapshot import Snapshot as Snapshot
from .core.snapshot import check_snapshot_account
from .core.snapshot import local_state_directory as local_state_directory
from .core.snapshot import read_snapshot as read_snapshot
from .core.snapshot import snapshot_location as snapshot_location
from .core.snapshot import write_snapshot as write_snapshot
from .core.watch_state import PendingMessage


async def _load_segments_snapshot(account: str, state: str = DEFAULT_STATE_DIR) -> Snapshot | None:
    """Load the last snapshot of an account, or None on its first run.

    Args:
        account: The account's label; the file is ``<state>/<account-slug>.json``.
        state: Directory (local path or fsspec URL) that holds one snapshot per account.

    Returns:
        The previous snapshot, or None when none was recorded yet.

    Example:
        Tell whether an account has a baseline:
        ```python
        from prefect import flow
        from prefect_botpenguin import load_segments_snapshot

        @flow
        def has_baseline() -> bool:
            snapshot = load_segments_snapshot("larkspur", state="snapshots")
            return snapshot is not None

        if __name__ == "__main__":
            print(has_baseline())
        ```
    """
    location = snapshot_location(state, account)
    snapshot = await asyncio.to_thread(read_snapshot, location)
    if snapshot is not None:
        check_snapshot_account(snapshot, account, location)
    logger = get_run_logger()
    if snapshot is None:
        logger.info(
            "No snapshot at %s yet: this run records the baseline", display_location(location)
        )
    else:
        logger.info(
            "Loaded snapshot of %d segment(s) fetched at %s from %s",
            len(snapshot.segments),
            snapshot.fetched_at.isoformat(),
            display_location(location),
        )
    return snapshot


aload_segments_snapshot, load_segments_snapshot = dual_task(
    _load_segments_snapshot, name="load-botpenguin-snapshot"
)


async def _save_segments_snapshot(
    segments: list[Segment],
    account: str,
    state: str = DEFAULT_STATE_DIR,
    fetched_at: datetime | None = None,
    source: str | None = None,
    pending: list[PendingMessage] | None = None,
    held_drops: int = 0,
) -> str:
    """Save an account's segments as its new snapshot, atomically.

    Args:
        segments: The segments just fetched.
        account: The account's label; the file is ``<state>/<account-slug>.json``.
        state: Directory (local path or fsspec URL) that holds one snapshot per account.
        fetched_at: When the segments were fetched (default: now, UTC).
        source: Where they came from (the API host), kept as metadata.
        pending: Change messages still owed to some notification target (the outbox).
        held_drops: Consecutive runs that held a suspicious drop.

    Returns:
        The snapshot's location, without any credentials it may contain.

    Example:
        Fetch an account and record its snapshot:
        ```python
        from prefect import flow
        from prefect_botpenguin import fetch_segments, save_segments_snapshot

        @flow
        def record_snapshot() -> str:
            segments = fetch_segments()
            return save_segments_snapshot(segments, "larkspur", state="snapshots")

        if __name__ == "__main__":
            print(record_snapshot())
        ```
    """
    location = snapshot_location(state, account)
    snapshot = Snapshot(
        account=account,
        fetched_at=fetched_at or datetime.now(UTC),
        source=source,
        segments=tuple(segments),
        pending=tuple(pending or ()),
        held_drops=held_drops,
    )
    await asyncio.to_thread(write_snapshot, snapshot, location)
    shown = display_location(location)
    get_run_logger().info("Saved snapshot of %d segment(s) to %s", len(segments), shown)
    return shown


asave_segments_snapshot, save_segments_snapshot = dual_task(
    _save_segments_snapshot, name="save-botpenguin-snapshot"
)
