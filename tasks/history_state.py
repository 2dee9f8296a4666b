"""Loading and saving the watch's size history, beside the account's snapshot, as tasks.

The watch loads the history under the account's lock with the snapshot, and saves it right
after the snapshot, so one accepted run is one point; a failed, stale or held run saves no
history (see ``core.watch``). Logs carry counts and the location, never a size's segment
fields or a contact.
"""

from __future__ import annotations

import asyncio

from prefect import get_run_logger, task

from ._dispatch import PACK_TASK_OPTIONS
from .core.locations import display_location
from .core.size_history import SizeHistory, history_location, read_history, write_history


@task(name="load-botpenguin-size-history", **PACK_TASK_OPTIONS)
async def load_size_history(account: str, state: str) -> SizeHistory | None:
    """The account's size history in ``state``, or None before the first recorded run."""
    return await asyncio.to_thread(read_history, history_location(state, account))


@task(name="save-botpenguin-size-history", **PACK_TASK_OPTIONS)
async def save_size_history(history: SizeHistory, account: str, state: str) -> str:
    """Write ``history`` atomically beside the snapshot; returns the shown location."""
    location = history_location(state, account)
    await asyncio.to_thread(write_history, history, location)
    shown = display_location(location)
    get_run_logger().info(
        "Saved the size history of %d segment(s) to %s", len(history.points), shown
    )
    return shown
