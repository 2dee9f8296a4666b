"""One watch per account at a time, whoever starts it (CLI, deployment, serve, a worker).

Two watches of one account comparing against the same snapshot would both report the same
change (two messages), or the slower one would save an older fetch over a newer snapshot. A
Prefect global concurrency limit ``botpenguin-watch-<account-slug>`` of one slot, created on
first use, serialises them on the Prefect server they share. A second watch waits for the
first (up to ``BOTPENGUIN_WATCH_LOCK_TIMEOUT``, 120 s), then compares against the snapshot the
first saved.

Watches that report to different Prefect servers (a terminal run on its temporary server and a
deployment) share no limit; when their state is a local directory, they also take an OS lock
on that directory (``flock``; the OS frees it when a process dies), so they cannot compare
against the same snapshot either. Remote state (``s3://``...) has only the Prefect limit.

The slot is a lease of ``LEASE_SECONDS`` (Prefect's minimum), renewed while the watch runs: a
watcher killed outright holds it until the lease expires and the server's repossessor frees it
(about a minute and a quarter). To free it at once, delete the limit (UI: Concurrency); the
next watch creates it again.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from pathlib import Path

from prefect import get_run_logger

from .core.accounts import account_slug
from .core.errors import WatchLockError
from .snapshots import local_state_directory

LEASE_SECONDS = 60.0
POLL_SECONDS = 0.1


def watch_lock_name(account: str) -> str:
    """The global concurrency limit that guards ``account``'s state."""
    return f"botpenguin-watch-{account_slug(account)}"


async def _ensure_limit(name: str) -> None:
    """Create the one-slot limit unless it exists (a limit set up by hand is respected)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    async with get_client() as client:
        try:
            await client.read_global_concurrency_limit_by_name(name)
            return
        except ObjectNotFound:
            pass
        with suppress(ObjectAlreadyExists):  # another watch created it at the same moment
            await client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=name, limit=1)
            )


@asynccontextmanager
async def watch_lock(
    account: str, *, timeout: float, state: str | None = None
) -> AsyncIterator[None]:
    """Hold ``account``'s watch slot (and a local ``state`` directory's lock) for the block.

    Raises ``WatchLockError`` when they are still held by another watch after ``timeout`` s.
    """
    from prefect.concurrency.asyncio import (
        AcquireConcurrencySlotTimeoutError,
        ConcurrencySlotAcquisitionError,
        concurrency,
    )

    name = watch_lock_name(account)
    await _ensure_limit(name)
    async with AsyncExitStack() as stack:
        try:
            await stack.enter_async_context(
                concurrency(
                    name,
                    occupy=1,
                    timeout_seconds=timeout,
                    lease_duration=LEASE_SECONDS,
                    strict=True,
                )
            )
        except AcquireConcurrencySlotTimeoutError:
            raise WatchLockError(
                f"Another watch of account {account!r} is running (it holds the Prefect "
                f"concurrency limit {name!r}); waited {timeout:g} s, so this run did nothing. "
                "Run it again when the other ends, or raise BOTPENGUIN_WATCH_LOCK_TIMEOUT."
            ) from None
        except ConcurrencySlotAcquisitionError as exc:
            raise WatchLockError(
                f"Could not take the Prefect concurrency limit {name!r} that keeps one watch "
                f"of account {account!r} at a time ({exc}); this run did nothing."
            ) from None
        get_run_logger().debug("Holding %s", name)
        directory = local_state_directory(state) if state else None
        if directory is not None:
            await stack.enter_async_context(_directory_lock(directory, account, timeout))
        yield


@asynccontextmanager
async def _directory_lock(directory: Path, account: str, timeout: float) -> AsyncIterator[None]:
    """An exclusive ``flock`` on the state directory; a no-op where the OS has none."""
    try:
        import fcntl
    except ImportError:  # Windows: the Prefect limit alone
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WatchLockError(
                        f"Another watch using the state directory {directory} is running (it "
                        f"holds its lock); waited {timeout:g} s, so this run of account "
                        f"{account!r} did nothing. Run it again when the other ends, or raise "
                        "BOTPENGUIN_WATCH_LOCK_TIMEOUT."
                    ) from None
                await asyncio.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
