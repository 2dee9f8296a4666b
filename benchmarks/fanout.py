"""a. Many accounts at once: the pack's fan-out against plain asyncio + httpx on one sandbox.

The baseline is the best plain script: one ``httpx.AsyncClient`` (pool sized to the
concurrency), one ``asyncio.Semaphore``, ``json.loads`` into dicts. The pack adds segment
models, per-account isolation, progress counters and (in the flow rows) Prefect runs,
artifacts and partner discovery.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any
from unittest.mock import patch

import httpx
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import SecretStr

from benchmarks.measure import Result, alternate, ratio, timed_row
from benchmarks.sandbox_process import RemoteSandbox
from prefect_botpenguin.core.client import BotPenguinClient, shared_http_client
from prefect_botpenguin.core.fanout import (
    FanoutAccount,
    FanoutReport,
    FanoutSummary,
    collect_segments,
)
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.core.settings import BotPenguinSettings
from prefect_botpenguin.fanout import fetch_segments_fanout

TIME_TARGET = 1.1


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "authtype": "Key", "Accept": "application/json"}


def _pool(concurrency: int, url: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(base_url=url, limits=limits, timeout=30)


async def baseline_fanout(url: str, tokens: list[str], concurrency: int) -> list[Any]:
    """Plain asyncio + httpx: every account's segments as dicts."""
    semaphore = asyncio.Semaphore(concurrency)
    async with _pool(concurrency, url) as http:

        async def one(token: str) -> Any:
            async with semaphore:
                response = await http.get("/inbox/segments", headers=_headers(token))
            response.raise_for_status()
            return json.loads(response.content)["data"]

        return await asyncio.gather(*(one(token) for token in tokens))


async def baseline_discovery(url: str, partner_token: str, concurrency: int) -> list[Any]:
    """Plain asyncio + httpx doing what partner discovery does: list pages until an empty
    one, and for each customer (as its page arrives) get its token, then its segments."""
    semaphore = asyncio.Semaphore(concurrency)
    async with _pool(concurrency, url) as http:

        async def get(path: str, token: str, **params: Any) -> Any:
            async with semaphore:
                response = await http.get(path, headers=_headers(token), params=params)
            response.raise_for_status()
            return json.loads(response.content)["data"]

        async def customer(customer_id: str) -> Any:
            token = await get("/ext/get-user-token", partner_token, userId=customer_id)
            return await get("/inbox/segments", token["permanentToken"]["key"])

        jobs: list[asyncio.Task[Any]] = []
        page = 1
        while customers := await get("/customer/list", partner_token, page=page, sort="x"):
            jobs += [asyncio.create_task(customer(c["_id"])) for c in customers]
            page += 1
        return list(await asyncio.gather(*jobs))


def _accounts(url: str, tokens: list[str]) -> list[FanoutAccount]:
    return [
        FanoutAccount(label=f"account-{n}", token=SecretStr(token), base_url=url)
        for n, token in enumerate(tokens, start=1)
    ]


async def pack_engine(url: str, tokens: list[str], concurrency: int) -> FanoutReport:
    accounts = _accounts(url, tokens)
    settings = BotPenguinSettings(base_url=url)
    return await collect_segments(accounts, concurrency=concurrency, settings=settings)


@flow(name="benchmark-one-task-per-fanout")
async def one_task_per_fanout(accounts: list[FanoutAccount], concurrency: int) -> int:
    report = await fetch_segments_fanout.aio(accounts, concurrency=concurrency)
    return len(report.succeeded)


@task(name="benchmark-fetch-one-account", cache_policy=NO_CACHE)
async def _fetch_one(
    account: FanoutAccount, http: httpx.AsyncClient, semaphore: asyncio.Semaphore
) -> list[Segment]:
    client = BotPenguinClient(account.token, base_url=account.base_url, http_client=http)
    async with semaphore:
        return await client.get_segments()


@flow(name="benchmark-one-task-per-account")
async def one_task_per_account(accounts: list[FanoutAccount], concurrency: int) -> int:
    """The design the pack does not use, measured to show why: a Prefect task per account."""
    semaphore = asyncio.Semaphore(concurrency)
    async with shared_http_client(concurrency) as http:
        results = await asyncio.gather(*(_fetch_one(a, http, semaphore) for a in accounts))
    return sum(1 for segments in results if segments)


class _Checker:
    """Validates each run's result and the sandbox's in-flight peak, then resets the sandbox."""

    def __init__(self, sandbox: RemoteSandbox, concurrency: int, accounts: int) -> None:
        self.sandbox = sandbox
        self.concurrency = concurrency
        self.accounts = accounts
        self.peaks: dict[str, int] = {}
        self.connections: dict[str, int] = {}

    def __call__(self, name: str, value: Any) -> None:
        if isinstance(value, FanoutReport | FanoutSummary):
            count = len(value.succeeded)
        elif isinstance(value, int):
            count = value
        else:
            count = sum(1 for segments in value if segments)
        if count != self.accounts:
            raise RuntimeError(f"{name}: collected {count} of {self.accounts} accounts")
        stats = self.sandbox.stats()
        if stats["max_in_flight"] > self.concurrency:
            raise RuntimeError(f"{name}: {stats['max_in_flight']} requests in flight")
        self.peaks[name] = max(self.peaks.get(name, 0), stats["max_in_flight"])
        self.connections[name] = max(self.connections.get(name, 0), stats["connections_opened"])
        self.sandbox.reset()


def _rows(
    case: str, timings: dict[str, Any], checker: _Checker, baseline: str, targets: dict[str, str]
) -> list[Result]:
    base = timings[baseline].median
    rows = []
    for name, timing in timings.items():
        value = ratio(timing.median, base)
        target = targets.get(name, "")
        rows.append(
            timed_row(
                case,
                name,
                timing,
                time_ratio=None if name == baseline else value,
                target=target,
                met=None if not target or value is None else value <= TIME_TARGET,
                note=(
                    f"peak in flight {checker.peaks[name]}, "
                    f"connections {checker.connections[name] - 1}"  # minus the stats call's
                ),
            )
        )
    return rows


def engine_rows(
    accounts: int, latency: float, concurrency: int, reps: int, sandbox: RemoteSandbox
) -> list[Result]:
    """Pack engine vs baseline, tokens known up front: one request per account."""
    url, tokens = sandbox.url, sandbox.tokens
    case = f"a. {accounts} accounts x {latency * 1000:.0f} ms, concurrency {concurrency}"
    checker = _Checker(sandbox, concurrency, accounts)
    baseline = "baseline: asyncio + httpx + Semaphore"
    pack = "pack: collect_segments (engine of the fan-out task)"
    asyncio.run(baseline_fanout(url, tokens[:concurrency], concurrency))  # warm-up
    asyncio.run(pack_engine(url, tokens[:concurrency], concurrency))
    sandbox.reset()
    timings = alternate(
        reps,
        {
            pack: lambda: asyncio.run(pack_engine(url, tokens, concurrency)),
            baseline: lambda: asyncio.run(baseline_fanout(url, tokens, concurrency)),
        },
        checker,
    )
    floor = accounts * latency / concurrency
    rows = _rows(case, timings, checker, baseline, {pack: f"<= {TIME_TARGET}x"})
    rows[-1].note += f"; floor {floor:.2f}s"
    return rows


def flow_rows(
    accounts: int,
    latency: float,
    concurrency: int,
    reps: int,
    sandbox: RemoteSandbox,
    pause: float = 0.0,
) -> list[Result]:
    """Under a Prefect server: the flow with partner discovery, and task granularity."""
    url, tokens = sandbox.url, sandbox.tokens
    checker = _Checker(sandbox, concurrency, accounts)
    env = {"BOTPENGUIN_BASE_URL": url, "BOTPENGUIN_API_TOKEN": sandbox.partner_token}
    case = f"a. same, as Prefect flows (partner discovery: {accounts} customers)"
    flow_name = "pack: segments_fanout flow (discovery, artifacts)"
    discovery = "baseline: asyncio + httpx, same discovery requests"
    with patch.dict(os.environ, env):
        from prefect_botpenguin.flows.fanout import segments_fanout

        if reps > 1:  # warm-up, skipped by the one-repetition smoke run
            asyncio.run(segments_fanout(partner_from_env=True, concurrency=concurrency))
        sandbox.reset()
        timings = alternate(
            reps,
            {
                flow_name: lambda: asyncio.run(
                    segments_fanout(partner_from_env=True, concurrency=concurrency)
                ),
                discovery: lambda: asyncio.run(
                    baseline_discovery(url, sandbox.partner_token, concurrency)
                ),
            },
            checker,
            pause,
        )
    rows = _rows(case, timings, checker, discovery, {})

    fanout_task = "pack: fetch_segments_fanout, one Prefect task per fan-out"
    per_account = "variant: one Prefect task per account (not used)"
    baseline = "baseline: asyncio + httpx + Semaphore"
    case = f"a. same, task granularity ({accounts} accounts, tokens known)"
    checker = _Checker(sandbox, concurrency, accounts)
    listed = _accounts(url, tokens)
    if reps > 1:  # warm-up, skipped by the one-repetition smoke run
        asyncio.run(one_task_per_account(listed[:concurrency], concurrency))
    sandbox.reset()
    timings = alternate(
        reps,
        {
            fanout_task: lambda: asyncio.run(one_task_per_fanout(listed, concurrency)),
            per_account: lambda: asyncio.run(one_task_per_account(listed, concurrency)),
            baseline: lambda: asyncio.run(baseline_fanout(url, tokens, concurrency)),
        },
        checker,
        pause,
    )
    return rows + _rows(case, timings, checker, baseline, {})
