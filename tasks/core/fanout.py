"""Segments of many accounts at once: one connection pool, a bound on requests in flight, and
no broken account stopping the others. Plain asyncio and httpx: no Prefect here.

How (each choice measured in BENCHMARKS.md):

- one ``httpx.AsyncClient`` (``shared_http_client``) serves every account, so connections are
  reused; each account's ``BotPenguinClient`` still sends its own token and retry policy;
- every API call -- partner listing, token lookup, segments -- waits for a slot of one
  ``asyncio.Semaphore(concurrency)``, and optionally for ``pace`` (the Prefect layer passes a
  Prefect rate limit there). A slot is held for one call *including its retries*, so an API
  that is struggling also gets fewer requests while the client backs off;
- one asyncio task per account, not one per request;
- partner discovery is pipelined: page 1's customers are fetched while page 2 is listed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Iterator,
    Sequence,
)
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from .client import BotPenguinClient, Logger, shared_http_client
from .errors import BotPenguinError, ConfigurationError
from .fanout_report import (  # re-exported: the report is part of this module's API
    DEFAULT_CONCURRENCY as DEFAULT_CONCURRENCY,
)
from .fanout_report import SUMMARY_FAILURE_LIMIT as SUMMARY_FAILURE_LIMIT
from .fanout_report import SUMMARY_KEY as SUMMARY_KEY
from .fanout_report import AccountOutcome as AccountOutcome
from .fanout_report import AccountSummary as AccountSummary
from .fanout_report import FanoutReport as FanoutReport
from .fanout_report import FanoutSummary as FanoutSummary
from .models import Segment
from .partner import Customer, get_customer_token, iter_customers
from .settings import DEFAULT_BASE_URL, BotPenguinSettings, load_settings

T = TypeVar("T")
Pace = Callable[[], Awaitable[None]]
"""Waits until the next API call may start (the Prefect layer passes a rate limit)."""


class FanoutAccount(BaseModel):
    """One account to collect: a label for artifacts and exports, its token and its host."""

    model_config = ConfigDict(frozen=True)

    label: str = Field(min_length=1, description="Account name in artifacts and exports.")
    token: SecretStr = Field(description="The account's API token; never shown.")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="The account's API host.")


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
    """A slot for one API call: the semaphore, then the pace (e.g. a rate limit) if any."""

    def __init__(self, concurrency: int, pace: Pace | None) -> None:
        self._semaphore = asyncio.Semaphore(concurrency)
        self._pace = pace

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        async with self._semaphore:
            if self._pace is not None:
                await self._pace()
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

    def known(self, partner: FanoutAccount, customers: Sequence[Customer], first: int) -> None:
        """Start the given customers' fetches without listing (a shard's share of them)."""
        client = self.client(partner.label, partner.token, partner.base_url)
        for index, customer in enumerate(customers, start=first):
            self.start(index, self.customer(client, customer, customer.label, partner.base_url))


async def collect_segments(
    accounts: Sequence[FanoutAccount] = (),
    *,
    partner: FanoutAccount | None = None,
    customers: Sequence[Customer] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    pace: Pace | None = None,
    settings: BotPenguinSettings | None = None,
    logger: Logger | None = None,
    progress: FanoutProgress | None = None,
) -> FanoutReport:
    """Fetch every account's segments (and, with ``partner``, every customer's), concurrently.

    At most ``concurrency`` API calls are in flight at once, across all accounts; with
    ``pace`` each call also awaits it first (``fetch_segments_fanout`` passes a Prefect rate
    limit). With ``customers`` too, only those of the partner's customers are fetched, named
    by their ``label``, and the partner's list is not read (how a shard gets its share). A
    failing account becomes an ``AccountOutcome`` with an error; this function
    itself raises only for a bad argument. Timeouts and retries come from ``settings``
    (default: ``BOTPENGUIN_*``).
    """
    if concurrency < 1:
        raise ConfigurationError(f"Fan-out concurrency must be at least 1, got {concurrency}.")
    settings = settings or load_settings()
    logger = logger or logging.getLogger("botpenguin")
    started = time.monotonic()
    gate = _Gate(concurrency, pace)
    run_progress = progress or FanoutProgress()
    async with shared_http_client(concurrency, ca_bundle=settings.ca_bundle) as http:
        run = _Fanout(http, gate, settings, logger, run_progress)
        run.labels.update(account.label for account in accounts)
        async with run.jobs:  # every account's job is done (or cancelled) when this exits
            for index, account in enumerate(accounts):
                run.start(index, run.account(account))
            if partner is not None and customers is not None:
                run.known(partner, customers, first=len(accounts))
            elif partner is not None:
                await run.discover(partner, first_index=len(accounts))
    return FanoutReport(
        outcomes=[run.outcomes[index] for index in sorted(run.outcomes)],
        seconds=time.monotonic() - started,
        concurrency=concurrency,
    )


def account_error_line(
    exc: BaseException, secrets: Sequence[SecretStr | None] = (), context: str = ""
) -> str:
    """One account's failure as one line, with any token it might quote masked: a bug or an
    unexpected library error's text is not ours to trust."""
    if isinstance(exc, BotPenguinError):
        text = exc.message
    else:
        text = f"unexpected {type(exc).__name__}: {exc}"
    text = " ".join(f"{context}{text}".split())
    for secret in secrets:
        if secret is not None and secret.get_secret_value():
            text = text.replace(secret.get_secret_value(), "**********")
    return text or type(exc).__name__


def _failed(
    label: str,
    exc: Exception,
    token: SecretStr | None,
    started: float,
    customer_id: str | None = None,
    context: str = "",
) -> AccountOutcome:
    return AccountOutcome(
        label=label,
        error=account_error_line(exc, [token], context),
        customer_id=customer_id,
        seconds=time.monotonic() - started,
    )


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
