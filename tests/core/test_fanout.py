"""The fan-out engine and the partner API, against the sandbox over real HTTP (and respx for
answers the sandbox cannot give)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from pydantic import SecretStr

from prefect_botpenguin.core.client import BotPenguinClient, shared_http_client
from prefect_botpenguin.core.errors import ResponseError
from prefect_botpenguin.core.fanout import (
    FanoutAccount,
    FanoutProgress,
    FanoutReport,
    collect_segments,
    iter_segments_with_account,
)
from prefect_botpenguin.core.partner import get_customer_token, iter_customers
from prefect_botpenguin.core.retry import RetryPolicy
from prefect_botpenguin.core.settings import BotPenguinSettings
from prefect_botpenguin.fanout import fanout_table_rows
from prefect_botpenguin.sandbox import SandboxServer

FAST = BotPenguinSettings(max_attempts=1, read_timeout=5.0)


def accounts_of(sandbox: SandboxServer, count: int | None = None) -> list[FanoutAccount]:
    return [
        FanoutAccount(label=f"account-{n}", token=SecretStr(token), base_url=sandbox.url)
        for n, token in enumerate(sandbox.account_tokens[:count], start=1)
    ]


def partner_of(sandbox: SandboxServer, token: str | None = None) -> FanoutAccount:
    token = token or sandbox.partner_token
    assert token
    return FanoutAccount(label="partner", token=SecretStr(token), base_url=sandbox.url)


def listed_pages(sandbox: SandboxServer) -> list[int]:
    return [
        int(parse_qs(urlsplit(r.path).query)["page"][0])
        for r in sandbox.requests
        if r.path.startswith("/customer/list")
    ]


# -- partner discovery ------------------------------------------------------------------------


@pytest.mark.integration
async def test_partner_discovery_pages_until_the_first_empty_page() -> None:
    with SandboxServer.simulated(45, page_size=10) as sandbox:
        async with BotPenguinClient(sandbox.partner_token, base_url=sandbox.url) as client:
            pages = [page async for page in iter_customers(client)]

        assert [len(page) for page in pages] == [10, 10, 10, 10, 5]
        ids = [customer.id for page in pages for customer in page]
        assert ids == [customer["_id"] for customer in sandbox.customers]
        assert listed_pages(sandbox) == [1, 2, 3, 4, 5, 6]  # page 6 is empty: no page 7


@pytest.mark.integration
async def test_customer_token_is_a_secret_that_reads_the_customers_segments() -> None:
    with SandboxServer.simulated(3) as sandbox:
        customer = sandbox.customers[1]
        async with BotPenguinClient(sandbox.partner_token, base_url=sandbox.url) as partner:
            token = await get_customer_token(partner, customer["_id"])
        assert isinstance(token, SecretStr)
        assert token.get_secret_value() not in repr(token)
        async with BotPenguinClient(token, base_url=sandbox.url) as client:
            segments = await client.get_segments()
        assert {segment.customer_id for segment in segments} == {customer["_id"]}


@respx.mock
async def test_listing_that_ignores_the_page_parameter_fails_instead_of_looping() -> None:
    same = {"success": True, "data": [{"_id": "c1", "name": "Only"}], "code": 200}
    route = respx.get("https://partner.test/customer/list").mock(
        return_value=httpx.Response(200, json=same)
    )
    async with BotPenguinClient("t" * 24, base_url="https://partner.test") as client:
        with pytest.raises(ResponseError, match="may ignore 'page'"):
            async for _ in iter_customers(client):
                pass
    assert route.call_count == 2


@respx.mock
async def test_token_answer_without_a_key_is_a_response_error_that_echoes_nothing() -> None:
    body = {"success": True, "data": {"permanentToken": {"secret": "leaky-value"}}, "code": 200}
    respx.get("https://partner.test/ext/get-user-token").mock(
        return_value=httpx.Response(200, json=body)
    )
    async with BotPenguinClient("t" * 24, base_url="https://partner.test") as client:
        with pytest.raises(ResponseError, match=r"no 'permanentToken\.key' for customer c9") as err:
            await get_customer_token(client, "c9")
    assert "leaky-value" not in str(err.value)


# -- isolation --------------------------------------------------------------------------------


@pytest.mark.integration
async def test_one_failing_account_among_many_does_not_stop_the_others() -> None:
    with SandboxServer.simulated(30) as sandbox:
        accounts = accounts_of(sandbox)
        dead = accounts[11]
        sandbox.revoke(dead.token.get_secret_value())

        report = await collect_segments(accounts, concurrency=5, settings=FAST)

    assert [o.label for o in report.outcomes] == [a.label for a in accounts]
    assert [o.label for o in report.failed] == [dead.label]
    assert "rejected the API token (HTTP 401" in (report.failed[0].error or "")
    assert report.failed[0].segments == []
    assert len(report.succeeded) == 29
    customers = sandbox.customers
    for outcome, customer in zip(report.outcomes, customers, strict=True):
        if outcome.ok:  # every account got its own segments, not a neighbour's
            assert {s.customer_id for s in outcome.segments} == {customer["_id"]}
    error = report.failure_error()
    assert error is not None
    assert error.failures == [(dead.label, report.failed[0].error)]
    assert str(error).startswith("1 of 30 BotPenguin account(s) failed")
    assert "\n" not in str(error)


@pytest.mark.integration
async def test_dead_host_and_unknown_customer_are_isolated_too() -> None:
    with SandboxServer.simulated(4) as sandbox:
        accounts = accounts_of(sandbox, 2)
        dead_host = FanoutAccount(
            label="gone", token=SecretStr("f" * 24), base_url="http://127.0.0.1:9"
        )
        report = await collect_segments(
            [*accounts, dead_host], partner=partner_of(sandbox), concurrency=3, settings=FAST
        )
    assert [o.label for o in report.failed] == ["gone"]
    assert "Cannot connect to BotPenguin at http://127.0.0.1:9" in (report.failed[0].error or "")
    assert len(report.succeeded) == 2 + 4


@pytest.mark.integration
async def test_refused_partner_token_is_one_failure_and_given_accounts_still_collected() -> None:
    with SandboxServer.simulated(3) as sandbox:
        wrong = accounts_of(sandbox, 1)[0].token.get_secret_value()  # a customer, not a partner
        report = await collect_segments(
            accounts_of(sandbox, 2), partner=partner_of(sandbox, wrong), settings=FAST
        )
    assert [o.label for o in report.failed] == ["partner customer list (partner)"]
    assert "HTTP 403" in (report.failed[0].error or "")
    assert len(report.succeeded) == 2


@pytest.mark.integration
async def test_customers_sharing_a_name_get_distinct_labels() -> None:
    customers = {
        "a" * 24: {"_id": "c" * 24, "name": "Tea  Shop"},
        "b" * 24: {"_id": "d" * 24, "name": "Tea Shop"},
    }
    accounts = {token: [] for token in customers}
    with SandboxServer(accounts=accounts, customers=customers, partner_token="p" * 24) as sandbox:
        report = await collect_segments(partner=partner_of(sandbox), settings=FAST)
    assert [o.label for o in report.outcomes] == ["Tea Shop", f"Tea Shop ({'d' * 24})"]
    assert [o.customer_id for o in report.outcomes] == ["c" * 24, "d" * 24]


# -- concurrency and connection reuse ------------------------------------------------------------


@pytest.mark.integration
async def test_concurrency_bound_is_never_exceeded_during_a_200_account_fanout() -> None:
    with SandboxServer.simulated(200, latency=0.01) as sandbox:
        progress = FanoutProgress()
        report = await collect_segments(
            partner=partner_of(sandbox), concurrency=7, settings=FAST, progress=progress
        )
        requests = sandbox.request_count
        peak = sandbox.max_in_flight
        connections = sandbox.connections_opened

    assert len(report.succeeded) == 200
    assert requests == 200 * 2 + 11  # a token and the segments per account, 10 pages + 1 empty
    assert peak == 7  # reached, and never passed
    assert connections <= 7  # one shared pool: connections are reused, not one per account
    assert (progress.done, progress.total, progress.listing) == (200, 200, False)
    assert progress.percent == 100.0


async def test_shared_pool_keeps_no_cookies_between_accounts() -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        body = {"success": True, "data": [], "code": 200}
        return httpx.Response(200, json=body, headers={"set-cookie": "session=account-a"})

    async with shared_http_client(2, transport=httpx.MockTransport(answer)) as http:
        for token in ("a" * 24, "b" * 24):
            client = BotPenguinClient(token, base_url="https://api.test", http_client=http)
            await client.get_segments()
            await client.aclose()  # a shared pool outlives the clients that borrow it
        assert not http.is_closed
    assert seen == [None, None]


def test_client_refuses_both_a_transport_and_a_shared_pool() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    with pytest.raises(TypeError, match="not both"):
        BotPenguinClient(
            "t" * 24,
            transport=transport,
            http_client=httpx.AsyncClient(),
            retry_policy=RetryPolicy(),
        )


# -- results ----------------------------------------------------------------------------------


@pytest.mark.integration
async def test_report_and_tables_name_accounts_and_never_hold_a_token() -> None:
    with SandboxServer.simulated(3) as sandbox:
        sandbox.revoke(sandbox.account_tokens[2])
        report = await collect_segments(partner=partner_of(sandbox), settings=FAST)
        tokens = [*sandbox.account_tokens, sandbox.partner_token or ""]

    rows = fanout_table_rows(report)
    assert len(rows) == 12
    assert list(rows[0])[:3] == ["account", "id", "name"]
    assert {row["account"] for row in rows} == {"Sample Customer 0001", "Sample Customer 0002"}
    assert len({tuple(row) for row in rows}) == 1  # one header for every row
    combined = list(iter_segments_with_account(report))
    assert combined[0].extra["account"] == "Sample Customer 0001"
    dumped = report.model_dump_json(by_alias=True)  # Segment keeps its API field names
    assert FanoutReport.model_validate_json(dumped).failed[0].label == "Sample Customer 0003"
    for token in tokens:
        assert token not in dumped
        assert token not in str(rows)
        assert token not in repr(partner_of(sandbox))


def test_api_field_called_account_is_kept_beside_the_account_column() -> None:
    from prefect_botpenguin.core.fanout import AccountOutcome
    from prefect_botpenguin.core.models import Segment

    segment = Segment.model_validate({"_id": "s1", "segmentName": "x", "account": "api value"})
    report = FanoutReport(outcomes=[AccountOutcome(label="Ours", segments=[segment])])
    [row] = fanout_table_rows(report)
    assert (row["account"], row["api.account"]) == ("Ours", "api value")
    [combined] = iter_segments_with_account(report)
    assert combined.extra == {"api.account": "api value", "account": "Ours"}
