"""One watch per account at a time, whoever starts it (CLI, deployment, serve, a worker).

Two watches of one account comparing against the same snapshot would both report the same
change (two messages), or the slower one would save an older fetch over a newer snapshot. A
Prefect global concurrency limit ``botpenguin-watch-<account-slug>`` of one slot, created on
first use, serialises them on the Prefect server they share. A second watch waits for the
first (up to ``BOTPENGUIN_WATCH_LOCK_TIMEOUT``, 120 s), then compares against the snapshot the
first saved.

The slot is a lease of ``LEASE_SECONDS`` (Prefect's minimum), renewed while the watch runs: a
watcher killed outright holds it until the lease expires and the server's repossessor frees it
(about a minute and a quarter). To free it at once, delete the limit (UI: Concurrency); the
next watch creates it again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress

from prefect import get_run_logger

from .core.accounts import account_slug
from .core.errors import WatchLockError

LEASE_SECONDS = 60.0


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
async def watch_lock(account: str, *, timeout: float) -> AsyncIterator[None]:
    """Hold ``account``'s watch slot for the block; ``WatchLockError`` after ``timeout`` s."""
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
        yield
