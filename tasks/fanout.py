"""Segments of many accounts at once: one connection pool, a bound on requests in flight, and
no broken account stopping the others.

How (each choice measured in BENCHMARKS.md):

- one ``httpx.AsyncClient`` (``shared_http_client``) serves every account, so connections are
  reused; each account's ``BotPenguinClient`` still sends its own token and retry policy;
- every API call -- partner listing, token lookup, segments -- waits for a slot of one
  ``asyncio.Semaphore(concurrency)``, and optionally paces itself by a Prefect rate limit. A
  slot is held for one call *including its retries*, so an API that is struggling also gets
  fewer requests while the client backs off;
- a named Prefect global concurrency limit bounds several flows together: the fan-out
  reserves ``min(concurrency, limit)`` of its slots once, for its whole run, and keeps its
  own requests within them. Taking a slot per request instead costs two Prefect API calls per
  request and, under contention, Prefect's polling waits (measured: seconds per request);
- one asyncio task per account and one Prefect task per fan-out, not one per request;
- partner discovery is pipelined: page 1's customers are fetched while page 2 is listed.

``collect_segments`` (in ``core.fanout``) is the engine (plain asyncio, usable anywhere);
``fetch_segments_fanout`` is the Prefect task around it, with a live progress artifact, and
``publish_fanout_artifacts`` records the combined result.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import (
    AsyncIterator,
    Sequence,
)
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypedDict

from prefect import get_run_logger
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)

from ._dispatch import dual_task
from .artifacts import TABLE_ROW_LIMIT, segment_table_rows
from .core.client import Logger
from .core.errors import ConfigurationError
from .core.fanout import (
    DEFAULT_CONCURRENCY,
    SUMMARY_KEY,
    FanoutAccount,
    FanoutProgress,
    FanoutReport,
    Pace,
    collect_segments,
    iter_segments_with_account,
)
from .core.markdown import cell, table_section
from .core.partner import Customer

PROGRESS_KEY = "botpenguin-fanout-progress"
TABLE_KEY = "botpenguin-fanout-segments"
PROGRESS_INTERVAL = 1.0
"""Seconds between progress artifact updates: live enough, and no API call per account."""


async def read_limit(name: str, *, rate: bool) -> int:
    """The size of a Prefect global concurrency limit, checked before the first request."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        try:
            limit = await client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            raise ConfigurationError(
                f"No Prefect global concurrency limit named {name!r}; create it with "
                f"`prefect gcl create {name} --limit N` (add --slot-decay-per-second for a "
                "rate limit)."
            ) from None
    if rate and not limit.slot_decay_per_second:
        raise ConfigurationError(
            f"Prefect concurrency limit {name!r} has no slot decay, so it cannot rate-limit; "
            "recreate it with --slot-decay-per-second."
        )
    if limit.limit < 1:
        raise ConfigurationError(
            f"Prefect concurrency limit {name!r} has a limit of {limit.limit}, so no request "
            "could ever run; raise it to at least 1."
        )
    return limit.limit


def rate_limiter(name: str) -> Pace:
    """Waits for a slot of the Prefect rate limit ``name`` (a limit with slot decay)."""
    from prefect.concurrency.asyncio import rate_limit

    async def pace() -> None:
        await rate_limit(name, strict=True)

    return pace


@contextlib.asynccontextmanager
async def reserve_slots(
    name: str | None, concurrency: int, logger: Logger, lease_seconds: float | None = None
) -> AsyncIterator[int]:
    """Hold ``min(concurrency, limit)`` slots of a Prefect limit for the whole fan-out.

    The slots are a lease the server takes back ``lease_seconds`` after this process stops
    renewing it (Prefect renews it from a thread), so a killed shard's slots come back.
    """
    if not name:
        yield concurrency
        return
    from prefect.concurrency.asyncio import concurrency as prefect_concurrency

    slots = min(concurrency, await read_limit(name, rate=False))
    logger.info("Taking %d slot(s) of Prefect concurrency limit %r", slots, name)
    holding = (
        prefect_concurrency(name, occupy=slots, strict=True, lease_duration=lease_seconds)
        if lease_seconds
        else prefect_concurrency(name, occupy=slots, strict=True)
    )
    async with holding:
        yield slots


class LimitOptions(TypedDict):
    """``CallLimits`` as the keywords of ``fetch_segments_fanout`` and ``engine_bounds``."""

    concurrency: int
    concurrency_limit: str | None
    rate_limit: str | None


@dataclass(frozen=True)
class CallLimits:
    """The bounds on a fan-out's API calls: the fan-out flows' parameters of those names,
    passed on as one value from the flow to its shards and engine calls."""

    concurrency: int
    concurrency_limit: str | None
    rate_limit: str | None

    def options(self) -> LimitOptions:
        return LimitOptions(
            concurrency=self.concurrency,
            concurrency_limit=self.concurrency_limit,
            rate_limit=self.rate_limit,
        )


class EngineBounds(TypedDict):
    """The keywords every fan-out engine call takes from the run's limits."""

    concurrency: int
    pace: Pace | None
    logger: Logger


@contextlib.asynccontextmanager
async def engine_bounds(
    concurrency: int,
    concurrency_limit: str | None,
    rate_limit: str | None,
    lease_seconds: float | None,
    logger: Logger,
) -> AsyncIterator[EngineBounds]:
    """The slots (of ``concurrency_limit``, held throughout) and the pace (of ``rate_limit``)
    an engine call runs within, so the segments fan-out and a members shard bound alike."""
    async with reserve_slots(concurrency_limit, concurrency, logger, lease_seconds) as slots:
        pace = rate_limiter(rate_limit) if rate_limit else None
        yield EngineBounds(concurrency=slots, pace=pace, logger=logger)


async def _fetch_segments_fanout(
    accounts: Sequence[FanoutAccount] = (),
    partner: FanoutAccount | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    concurrency_limit: str | None = None,
    rate_limit: str | None = None,
    customers: Sequence[Customer] | None = None,
    lease_seconds: float | None = None,
    progress_artifact: bool = True,
) -> FanoutReport:
    """Fetch the segments of many accounts at once, with a live progress artifact.

    One Prefect task for the whole fan-out (one per request would cost more than the requests,
    see BENCHMARKS.md); inside it, one shared connection pool and at most ``concurrency`` API
    calls in flight. A failed account does not stop the others: it is reported in the
    returned ``FanoutReport``, so the caller can save everything else before failing the run.
    The task itself is not retried (the client already retries each request); run it again for
    the accounts that failed.

    Args:
        accounts: Accounts with known tokens, e.g. from saved ``BotPenguinCredentials`` blocks.
        partner: A partner's account; every customer it lists (``GET /customer/list``) is
            collected too, with the token ``GET /ext/get-user-token`` gives for it.
        concurrency: Most API calls in flight at once, across all accounts.
        concurrency_limit: Name of a Prefect global concurrency limit that bounds several
            flows together: the fan-out holds ``min(concurrency, limit)`` of its slots while
            it runs and keeps its requests within them (waiting while others hold them).
        rate_limit: Name of a Prefect global concurrency limit with slot decay that paces
            every API call (a rate limit).
        customers: Only these of the partner's customers, without listing them (a shard's
            share; see ``flows.shard``).
        lease_seconds: How long the server keeps the reserved slots of ``concurrency_limit``
            after this process stops renewing them (e.g. killed). Default: Prefect's (300 s).
        progress_artifact: Publish the live progress artifact; a shard running inside its
            parent's flow run leaves that to the parent, whose one artifact covers all shards.

    Returns:
        Every account's segments or one-line error, in the order given, then listed.

    Example:
        Collect two saved accounts with at most four requests in flight:
        ```python
        from prefect import flow
        from prefect_botpenguin import BotPenguinCredentials, FanoutAccount, fetch_segments_fanout

        @flow
        def collect_two() -> int:
            accounts = []
            for name in ("BLOCK_NAME", "OTHER_BLOCK_NAME"):
                block = BotPenguinCredentials.load(name)
                accounts.append(
                    FanoutAccount(label=name, token=block.api_token, base_url=block.base_url)
                )
            report = fetch_segments_fanout(accounts, concurrency=4)
            return report.segment_count

        if __name__ == "__main__":
            print(collect_two())
        ```
    """
    logger = get_run_logger()
    if rate_limit:
        await read_limit(rate_limit, rate=True)
    progress = FanoutProgress()
    stop = asyncio.Event()

    async def report_progress() -> None:
        if not progress_artifact:
            return
        try:
            artifact_id = await acreate_progress_artifact(
                0.0, key=PROGRESS_KEY, description="Starting the BotPenguin fan-out."
            )
        except Exception as exc:  # progress is a courtesy; never fail the fan-out for it
            logger.debug("Could not create the progress artifact: %s", exc)
            return
        shown: tuple[float, str] | None = None
        while True:
            # One last update after the stop, also when the fan-out ended before the artifact
            # was created: the artifact must end at the final count, not at 0.
            stopping = stop.is_set()
            if not stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), PROGRESS_INTERVAL)
            current = (progress.percent, progress.describe())
            if current != shown:
                try:
                    await aupdate_progress_artifact(artifact_id, current[0], description=current[1])
                    shown = current
                except Exception as exc:  # progress is a courtesy, as above
                    logger.debug("Could not update the progress artifact: %s", exc)
            if stopping:
                return

    reporter = asyncio.create_task(report_progress())
    try:
        async with engine_bounds(
            concurrency, concurrency_limit, rate_limit, lease_seconds, logger
        ) as bounds:
            report = await collect_segments(
                accounts, partner=partner, customers=customers, progress=progress, **bounds
            )
    finally:
        stop.set()
        await reporter
    logger.info(
        "Collected %d segment(s) from %d of %d account(s) in %.1fs (concurrency %d)",
        report.segment_count,
        len(report.succeeded),
        len(report.outcomes),
        report.seconds,
        report.concurrency,
    )
    return report


afetch_segments_fanout, fetch_segments_fanout = dual_task(
    _fetch_segments_fanout,
    name="fetch-botpenguin-segments-fanout",
)


def fanout_table_rows(report: FanoutReport, limit: int = TABLE_ROW_LIMIT) -> list[dict[str, Any]]:
    """Table artifact rows: ``account``, then the segment columns, the same for every row."""
    segments = list(islice(iter_segments_with_account(report), limit))
    return [{"account": row.pop("account"), **row} for row in segment_table_rows(segments)]


def fanout_summary_markdown(report: FanoutReport) -> str:
    """Counts, then the failed accounts with their errors, then every account's count."""
    failed = report.failed
    lines = [
        f"# BotPenguin fan-out: {len(report.succeeded)} of {len(report.outcomes)} account(s)",
        "",
        f"**{report.segment_count}** segment(s) in {report.seconds:.1f}s "
        f"(at most {report.concurrency} request(s) in flight).",
        "",
    ]
    if failed:
        errors = [(cell(o.label), cell(o.error or "")) for o in failed]
        lines += [*table_section(f"Failed ({len(failed)})", ("Account", "Error"), "ll", errors), ""]
    counts = [
        (cell(o.label), len(o.segments) if o.ok else "failed", f"{o.seconds:.2f}")
        for o in report.outcomes
    ]
    lines += table_section("Accounts", ("Account", "Segments", "Seconds"), "lrr", counts)
    return "\n".join(lines)


async def _publish_fanout_artifacts(report: FanoutReport) -> str:
    """Record a fan-out as one table (an ``account`` column, then segment columns) and a summary.

    The table keeps the first 5,000 segments (the UI cannot page more); the markdown summary
    names every account, its segment count and, for a failed one, its one-line error.

    Args:
        report: What ``fetch_segments_fanout`` returned; Prefect does not walk its
            segments looking for futures (see ``prefect_botpenguin._dispatch``).

    Returns:
        The table artifact's key, ``botpenguin-fanout-segments``.

    Example:
        Collect a saved account and publish the combined result:
        ```python
        from prefect import flow
        from prefect_botpenguin import (
            BotPenguinCredentials, FanoutAccount, fetch_segments_fanout, publish_fanout_artifacts,
        )

        @flow
        def collect_and_publish() -> str:
            block = BotPenguinCredentials.load("BLOCK_NAME")
            account = FanoutAccount(
                label="BLOCK_NAME", token=block.api_token, base_url=block.base_url
            )
            report = fetch_segments_fanout([account])
            return publish_fanout_artifacts(report)

        if __name__ == "__main__":
            print(collect_and_publish())
        ```
    """
    rows = fanout_table_rows(report)
    shown = (
        f"{report.segment_count}"
        if len(rows) == report.segment_count
        else f"first {len(rows)} of {report.segment_count}"
    )
    await acreate_table_artifact(
        rows,
        key=TABLE_KEY,
        description=(
            f"Segments of {len(report.succeeded)} BotPenguin account(s) ({shown} segment(s))."
        ),
    )
    await acreate_markdown_artifact(
        fanout_summary_markdown(report),
        key=SUMMARY_KEY,
        description="Which BotPenguin accounts a fan-out collected, and why any failed.",
    )
    return TABLE_KEY


apublish_fanout_artifacts, publish_fanout_artifacts = dual_task(
    _publish_fanout_artifacts,
    name="publish-botpenguin-fanout-artifacts",
)


__all__ = [
    "afetch_segments_fanout",
    "apublish_fanout_artifacts",
    "fanout_summary_markdown",
    "fanout_table_rows",
    "fetch_segments_fanout",
    "publish_fanout_artifacts",
]
