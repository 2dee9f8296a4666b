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

``collect_segments`` is the engine (plain asyncio, usable from any flow or script);
``fetch_segments_fanout`` is the Prefect task around it, with a live progress artifact, and
``publish_fanout_artifacts`` records the combined result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Sequence,
)
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

import httpx
from prefect import get_run_logger, task
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tasks.artifacts import segment_table_rows
from tasks.client import BotPenguinClient, Logger, shared_http_client
from tasks.errors import BotPenguinError, ConfigurationError, FanoutFailedError
from tasks.models import Segment
from tasks.partner import Customer, get_customer_token, iter_customers
from tasks.settings import DEFAULT_BASE_URL, BotPenguinSettings, load_settings

DEFAULT_CONCURRENCY = 8
PROGRESS_KEY = "botpenguin-fanout-progress"
TABLE_KEY = "botpenguin-fanout-segments"
SUMMARY_KEY = "botpenguin-fanout-summary"
PROGRESS_INTERVAL = 1.0
"""Seconds between progress artifact updates: live enough, and no API call per account."""
TABLE_ROW_LIMIT = 5_000
"""Rows kept in the combined table artifact; exports always hold every segment."""
SUMMARY_FAILURE_LIMIT = 5
"""Failed accounts named in the one-line failure message; the summary artifact lists all."""

T = TypeVar("T")


class FanoutAccount(BaseModel):
    """One account to collect: a label for artifacts and exports, its token and its host."""

    model_config = ConfigDict(frozen=True)

    label: str = Field(min_length=1, description="Account name in artifacts and exports.")
    token: SecretStr = Field(description="The account's API token; never shown.")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="The account's API host.")


class AccountOutcome(BaseModel):
    """What a fan-out got from one account: its segments, or a one-line error."""

    model_config = ConfigDict(frozen=True)

    label: str = Field(description="Account name (block name or customer name).")
    segments: list[Segment] = Field(default_factory=list, description="Empty when failed.")
    error: str | None = Field(default=None, description="Why it failed, one line, no token.")
    customer_id: str | None = Field(default=None, description="Customer id, when discovered.")
    seconds: float = Field(default=0.0, description="Wall time spent on this account.")

    @property
    def ok(self) -> bool:
        return self.error is None


class FanoutReport(BaseModel):
    """Every account's outcome, in the order the accounts were given or listed."""

    model_config = ConfigDict(frozen=True)

    outcomes: list[AccountOutcome] = Field(default_factory=list)
    seconds: float = Field(default=0.0, description="Wall time of the whole fan-out.")
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, description="Requests in flight, max.")

    @property
    def succeeded(self) -> list[AccountOutcome]:
        return [outcome for outcome in self.outcomes if outcome.ok]

    @property
    def failed(self) -> list[AccountOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.ok]

    @property
    def segment_count(self) -> int:
        return sum(len(outcome.segments) for outcome in self.outcomes)

    def __repr__(self) -> str:
        # Short on purpose: Python 3.11's asyncio.run formats the main task's result with
        # repr(), and spelling out every segment of 500 accounts took tens of milliseconds.
        return (
            f"FanoutReport(accounts={len(self.outcomes)}, failed={len(self.failed)}, "
            f"segments={self.segment_count}, seconds={self.seconds:.2f})"
        )

    def summary(self) -> FanoutSummary:
        """The report without segment data, e.g. as a flow's result."""
        return FanoutSummary(
            accounts=[
                AccountSummary(
                    label=o.label,
                    segment_count=len(o.segments),
                    error=o.error,
                    customer_id=o.customer_id,
                    seconds=o.seconds,
                )
                for o in self.outcomes
            ],
            seconds=self.seconds,
            concurrency=self.concurrency,
        )

    def failure_error(self, also: Sequence[tuple[str, str]] = ()) -> FanoutFailedError | None:
        """The error that ends a fan-out with failed accounts (None when all succeeded).

        ``also`` adds later failures, e.g. ``(label, error)`` of exports that could not be
        written, so one message names everything that went wrong.
        """
        failures = [(o.label, o.error or "") for o in self.failed] + list(also)
        if not failures:
            return None
        named = "; ".join(
            f"{label}: {error.rstrip('.')}" for label, error in failures[:SUMMARY_FAILURE_LIMIT]
        )
        more = len(failures) - SUMMARY_FAILURE_LIMIT
        rest = f"; and {more} more (see the {SUMMARY_KEY} artifact)" if more > 0 else ""
        what = f"{len(self.failed)} of {len(self.outcomes)} BotPenguin account(s) failed"
        if also:
            what += f", {len(also)} export(s) failed"
        return FanoutFailedError(
            f"{what}; everything else was collected and saved: {named}{rest}.", failures
        )


class AccountSummary(BaseModel):
    """One account's line in a fan-out's result: how many segments, or why it failed."""

    model_config = ConfigDict(frozen=True)

    label: str = Field(description="Account name (block name or customer name).")
    segment_count: int = Field(default=0, description="Segments collected; 0 when failed.")
    error: str | None = Field(default=None, description="Why it failed, one line, no token.")
    customer_id: str | None = Field(default=None, description="Customer id, when discovered.")
    seconds: float = Field(default=0.0, description="Wall time spent on this account.")

    @property
    def ok(self) -> bool:
        return self.error is None


class FanoutSummary(BaseModel):
    """What the fan-out flow returns: counts and errors per account, no segment data.

    A flow's result must stay small: Prefect walks every value of it, and may persist it.
    The segments themselves are in the artifacts and exports.
    """

    model_config = ConfigDict(frozen=True)

    accounts: list[AccountSummary] = Field(default_factory=list)
    seconds: float = Field(default=0.0, description="Wall time of the whole fan-out.")
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, description="Requests in flight, max.")

    @property
    def succeeded(self) -> list[AccountSummary]:
        return [account for account in self.accounts if account.ok]

    @property
    def failed(self) -> list[AccountSummary]:
        return [account for account in self.accounts if not account.ok]

    @property
    def segment_count(self) -> int:
        return sum(account.segment_count for account in self.accounts)

    def __repr__(self) -> str:
        return (
            f"FanoutSummary(accounts={len(self.accounts)}, failed={len(self.failed)}, "
            f"segments={self.segment_count}, seconds={self.seconds:.2f})"
        )


@dataclass
class FanoutProgress:
    """Live counters of a running fan-out, read by the progress artifact updater."""

    total: int = 0
    done: int = 0
    failed: int = 0
    listing: bool = False

    @property
    def percent(self) -> float:
        if self.total == 0:
            return 0.0 if self.listing else 100.0
        share = 100.0 * self.done / self.total
        return min(share, 99.0) if self.listing else share

    def describe(self) -> str:
        text = f"{self.done} of {self.total} BotPenguin account(s) collected"
        if self.failed:
            text += f", {self.failed} failed"
        return text + ("; still listing customers." if self.listing else ".")


class _AccountLogger(logging.LoggerAdapter[Any]):
    """Prefixes the account label, so a retry warning says which account it is about."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[{self.extra['account'] if self.extra else '?'}] {msg}", kwargs


class _Gate:
    """A slot for one API call: the semaphore, then the Prefect rate limit if one is named."""

    def __init__(self, concurrency: int, rate_limit: str | None) -> None:
        self._semaphore = asyncio.Semaphore(concurrency)
        self._rate_limit = rate_limit

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        async with self._semaphore:
            if self._rate_limit:
                from prefect.concurrency.asyncio import rate_limit

                await rate_limit(self._rate_limit, strict=True)
            return await make()


class _Fanout:
    """One run of ``collect_segments``: shared pool, gate, counters and outcomes."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        gate: _Gate,
        settings: BotPenguinSettings,
        logger: Logger,
        progress: FanoutProgress,
    ) -> None:
        self.http = http
        self.gate = gate
        self.settings = settings
        self.logger = logger
        self.progress = progress
        self.outcomes: dict[int, AccountOutcome] = {}
        self.labels: set[str] = set()
        self.jobs = asyncio.TaskGroup()

    def client(self, label: str, token: SecretStr, base_url: str) -> BotPenguinClient:
        return BotPenguinClient.from_settings(
            self.settings,
            api_token=token,
            base_url=base_url,
            http_client=self.http,
            logger=_AccountLogger(self.logger, {"account": label}),
        )

    def unique_label(self, label: str, customer_id: str) -> str:
        """Two customers may share a name; their artifacts and files must not."""
        if label in self.labels:
            label = f"{label} ({customer_id})"
        self.labels.add(label)
        return label

    def start(self, index: int, job: Awaitable[AccountOutcome]) -> None:
        self.progress.total += 1
        self.jobs.create_task(self._record(index, job))

    async def _record(self, index: int, job: Awaitable[AccountOutcome]) -> None:
        outcome = await job
        self.outcomes[index] = outcome
        self.progress.done += 1
        if not outcome.ok:
            self.progress.failed += 1
            self.logger.warning("Account %s failed: %s", outcome.label, outcome.error)

    async def account(self, account: FanoutAccount) -> AccountOutcome:
        started = time.monotonic()
        try:
            client = self.client(account.label, account.token, account.base_url)
            segments = await self.gate.call(client.get_segments)
        except Exception as exc:  # isolation: one account's failure is its own outcome
            return _failed(account.label, exc, account.token, started)
        return AccountOutcome(
            label=account.label, segments=segments, seconds=time.monotonic() - started
        )

    async def customer(
        self, partner: BotPenguinClient, customer: Customer, label: str, base_url: str
    ) -> AccountOutcome:
        started = time.monotonic()
        try:
            token = await self.gate.call(lambda: get_customer_token(partner, customer.id))
        except Exception as exc:
            return _failed(label, exc, None, started, customer.id, "getting its API token: ")
        try:
            client = self.client(label, token, base_url)
            segments = await self.gate.call(client.get_segments)
        except Exception as exc:
            return _failed(label, exc, token, started, customer.id)
        return AccountOutcome(
            label=label,
            segments=segments,
            customer_id=customer.id,
            seconds=time.monotonic() - started,
        )

    async def discover(self, partner: FanoutAccount, first_index: int) -> None:
        """List the partner's customers and start each one's fetch as its page arrives."""
        started = time.monotonic()
        client = self.client(partner.label, partner.token, partner.base_url)
        pages: AsyncGenerator[list[Customer], None] = iter_customers(client)
        index = first_index
        self.progress.listing = True
        try:
            while (page := await self.gate.call(lambda: anext(pages, None))) is not None:
                for customer in page:
                    label = self.unique_label(customer.label, customer.id)
                    self.start(index, self.customer(client, customer, label, partner.base_url))
                    index += 1
        except Exception as exc:
            label = f"partner customer list ({partner.label})"
            self.progress.total += 1
            self.progress.done += 1
            self.progress.failed += 1
            self.outcomes[index] = _failed(label, exc, partner.token, started)
            self.logger.warning("%s failed: %s", label, self.outcomes[index].error)
        finally:
            self.progress.listing = False
            await pages.aclose()


async def collect_segments(
    accounts: Sequence[FanoutAccount] = (),
    *,
    partner: FanoutAccount | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    rate_limit: str | None = None,
    settings: BotPenguinSettings | None = None,
    logger: Logger | None = None,
    progress: FanoutProgress | None = None,
) -> FanoutReport:
    """Fetch every account's segments (and, with ``partner``, every customer's), concurrently.

    At most ``concurrency`` API calls are in flight at once, across all accounts; with
    ``rate_limit`` (a Prefect global concurrency limit with slot decay) each call also waits
    for its pace. A failing account becomes an ``AccountOutcome`` with an error; this function
    itself raises only for a bad argument. Timeouts and retries come from ``settings``
    (default: ``BOTPENGUIN_*``).
    """
    if concurrency < 1:
        raise ConfigurationError(f"Fan-out concurrency must be at least 1, got {concurrency}.")
    settings = settings or load_settings()
    logger = logger or logging.getLogger("botpenguin")
    started = time.monotonic()
    gate = _Gate(concurrency, rate_limit)
    run_progress = progress or FanoutProgress()
    async with shared_http_client(concurrency) as http:
        run = _Fanout(http, gate, settings, logger, run_progress)
        run.labels.update(account.label for account in accounts)
        async with run.jobs:  # every account's job is done (or cancelled) when this exits
            for index, account in enumerate(accounts):
                run.start(index, run.account(account))
            if partner is not None:
                await run.discover(partner, first_index=len(accounts))
    return FanoutReport(
        outcomes=[run.outcomes[index] for index in sorted(run.outcomes)],
        seconds=time.monotonic() - started,
        concurrency=concurrency,
    )


def _failed(
    label: str,
    exc: Exception,
    token: SecretStr | None,
    started: float,
    customer_id: str | None = None,
    context: str = "",
) -> AccountOutcome:
    if isinstance(exc, BotPenguinError):
        text = exc.message
    else:  # a bug or an unexpected library error: still one line, and still no token
        text = f"unexpected {type(exc).__name__}: {exc}"
    text = " ".join(f"{context}{text}".split())
    if token is not None and token.get_secret_value():
        text = text.replace(token.get_secret_value(), "**********")
    return AccountOutcome(
        label=label,
        error=text or type(exc).__name__,
        customer_id=customer_id,
        seconds=time.monotonic() - started,
    )


async def _read_limit(name: str, *, rate: bool) -> int:
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


@contextlib.asynccontextmanager
async def _reserve(name: str | None, concurrency: int, logger: Logger) -> AsyncIterator[int]:
    """Hold ``min(concurrency, limit)`` slots of a Prefect limit for the whole fan-out."""
    if not name:
        yield concurrency
        return
    from prefect.concurrency.asyncio import concurrency as prefect_concurrency

    slots = min(concurrency, await _read_limit(name, rate=False))
    logger.info("Taking %d slot(s) of Prefect concurrency limit %r", slots, name)
    async with prefect_concurrency(name, occupy=slots, strict=True):
        yield slots


@task(name="fetch-botpenguin-segments-fanout", tags=["botpenguin"], cache_policy=NO_CACHE)
async def fetch_segments_fanout(
    accounts: Sequence[FanoutAccount] = (),
    partner: FanoutAccount | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    concurrency_limit: str | None = None,
    rate_limit: str | None = None,
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

    Returns:
        Every account's segments or one-line error, in the order given, then listed.

    Example:
        Collect two saved accounts with at most four requests in flight:
        ```python
        from prefect import flow
        from tasks import BotPenguinCredentials, FanoutAccount, fetch_segments_fanout

        @flow
        async def collect_two() -> int:
            accounts = []
            for name in ("BLOCK_NAME", "OTHER_BLOCK_NAME"):
                block = await BotPenguinCredentials.aload(name)
                accounts.append(
                    FanoutAccount(label=name, token=block.api_token, base_url=block.base_url)
                )
            report = await fetch_segments_fanout(accounts, concurrency=4)
            return report.segment_count
        ```
    """
    logger = get_run_logger()
    if rate_limit:
        await _read_limit(rate_limit, rate=True)
    progress = FanoutProgress()
    artifact_id = await acreate_progress_artifact(
        0.0, key=PROGRESS_KEY, description="Starting the BotPenguin fan-out."
    )
    stop = asyncio.Event()

    async def report_progress() -> None:
        shown: tuple[float, str] | None = None
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PROGRESS_INTERVAL)
            current = (progress.percent, progress.describe())
            if current == shown:
                continue
            try:
                await aupdate_progress_artifact(artifact_id, current[0], description=current[1])
                shown = current
            except Exception as exc:  # progress is a courtesy; never fail the fan-out for it
                logger.debug("Could not update the progress artifact: %s", exc)

    reporter = asyncio.create_task(report_progress())
    try:
        async with _reserve(concurrency_limit, concurrency, logger) as slots:
            report = await collect_segments(
                accounts,
                partner=partner,
                concurrency=slots,
                rate_limit=rate_limit,
                logger=logger,
                progress=progress,
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


def iter_segments_with_account(report: FanoutReport) -> Iterator[Segment]:
    """Every collected segment with an ``account`` field naming its account, for a combined
    export or table. An API field already called ``account`` is kept as ``api.account``."""
    for outcome in report.succeeded:
        for segment in outcome.segments:
            data = segment.to_api_dict()
            if "account" in data:
                data["api.account"] = data.pop("account")
            data["account"] = outcome.label
            yield Segment.from_api(data)


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
        lines += [f"## Failed ({len(failed)})", "", "| Account | Error |", "|---|---|"]
        lines += [f"| {_md(o.label)} | {_md(o.error or '')} |" for o in failed]
        lines.append("")
    lines += ["## Accounts", "", "| Account | Segments | Seconds |", "|---|---:|---:|"]
    lines += [
        f"| {_md(o.label)} | {len(o.segments) if o.ok else 'failed'} | {o.seconds:.2f} |"
        for o in report.outcomes
    ]
    return "\n".join(lines)


def _md(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


@task(name="publish-botpenguin-fanout-artifacts", tags=["botpenguin"], cache_policy=NO_CACHE)
async def publish_fanout_artifacts(report: FanoutReport) -> str:
    """Record a fan-out as one table (an ``account`` column, then segment columns) and a summary.

    The table keeps the first 5,000 segments (the UI cannot page more); the markdown summary
    names every account, its segment count and, for a failed one, its one-line error.

    Args:
        report: What ``fetch_segments_fanout`` returned. Pass a large one as
            ``prefect.utilities.annotations.quote(report)``, so Prefect does not walk every
            segment looking for futures before the task starts.

    Returns:
        The table artifact's key, ``botpenguin-fanout-segments``.

    Example:
        Collect two saved accounts and publish the combined result:
        ```python
        from prefect import flow
        from tasks import (
            BotPenguinCredentials, FanoutAccount, fetch_segments_fanout, publish_fanout_artifacts
        )

        @flow
        async def collect_and_publish() -> str:
            block = await BotPenguinCredentials.aload("BLOCK_NAME")
            account = FanoutAccount(label="BLOCK_NAME", token=block.api_token)
            report = await fetch_segments_fanout([account])
            return await publish_fanout_artifacts(report)
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


__all__ = [
    "DEFAULT_CONCURRENCY",
    "AccountOutcome",
    "AccountSummary",
    "FanoutAccount",
    "FanoutProgress",
    "FanoutReport",
    "FanoutSummary",
    "collect_segments",
    "fanout_summary_markdown",
    "fanout_table_rows",
    "fetch_segments_fanout",
    "iter_segments_with_account",
    "publish_fanout_artifacts",
]
