"""Unit tests of the HTTP client with respx: headers, envelope checks, errors, retry policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx

from prefect_botpenguin.core.client import USER_AGENT, BotPenguinClient
from prefect_botpenguin.core.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BotPenguinError,
    ConfigurationError,
    MissingTokenError,
    RateLimitedError,
    RequestRejectedError,
    ResponseError,
    ServerError,
)
from prefect_botpenguin.core.retry import RetryPolicy

BASE = "https://api.example-whitelabel.test"
URL = f"{BASE}/inbox/segments"
TOKEN = "0123456789abcdef01234567"
SEGMENT = {"_id": "a" * 24, "_customer": "b" * 24, "segmentName": "Tea lovers", "contactCount": 3}
TOKEN_FORMAT_MESSAGE = (
    "Argument passed in must be a single String of 12 bytes or a string of 24 hex characters"
)


def ok(data: object = None) -> httpx.Response:
    return httpx.Response(
        200, json={"success": True, "message": "", "data": [SEGMENT] if data is None else data}
    )


def failure(
    status: int, message: str = "nope", code: int | None = None, **kw: object
) -> httpx.Response:
    body = {"success": False, "message": message, "data": [], "code": code or status}
    return httpx.Response(status, json=body, **kw)  # type: ignore[arg-type]


class Waits:
    """Records the waits the client asks for, and advances a fake clock by them."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def waits() -> Waits:
    return Waits()


def make_client(waits: Waits, **policy: float) -> BotPenguinClient:
    return BotPenguinClient(
        TOKEN,
        base_url=BASE,
        retry_policy=RetryPolicy(**policy),  # type: ignore[arg-type]
        sleep=waits.sleep,
        clock=waits.clock,
        random=lambda: 0.5,
    )


@respx.mock
async def test_sends_bearer_authtype_content_type_and_user_agent(waits: Waits) -> None:
    route = respx.get(URL).mock(return_value=ok())
    async with make_client(waits) as client:
        segments = await client.get_segments()
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["authtype"] == "Key"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("prefect-botpenguin/")
    assert [s.name for s in segments] == ["Tea lovers"]
    assert segments[0].extra == {"contactCount": 3}


@respx.mock
async def test_base_url_path_prefix_is_kept(waits: Waits) -> None:
    route = respx.get(f"{BASE}/v7/inbox/segments").mock(return_value=ok([]))
    client = BotPenguinClient(TOKEN, base_url=f"{BASE}/v7/", sleep=waits.sleep)
    async with client:
        assert await client.get_segments() == []
    assert route.called


def test_missing_token_fails_before_any_request() -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(URL)
        with pytest.raises(MissingTokenError, match="BOTPENGUIN_API_TOKEN"):
            BotPenguinClient("  ", base_url=BASE)
        assert not route.called


@pytest.mark.parametrize(
    "response",
    [
        failure(401, "Unauthorized"),
        failure(403, "Forbidden"),
        failure(400, TOKEN_FORMAT_MESSAGE),
        httpx.Response(200, json={"success": False, "message": "Invalid token", "code": 401}),
    ],
    ids=["401", "403", "400-token-format", "200-success-false-401"],
)
@respx.mock
async def test_auth_error_is_not_retried(waits: Waits, response: httpx.Response) -> None:
    route = respx.get(URL).mock(return_value=response)
    async with make_client(waits) as client:
        with pytest.raises(AuthenticationError, match="token") as caught:
            await client.get_segments()
    assert route.call_count == 1
    assert waits.waits == []
    assert not caught.value.retryable
    assert "\n" not in str(caught.value)


@respx.mock
async def test_other_4xx_is_rejected_without_retry(waits: Waits) -> None:
    route = respx.get(URL).mock(return_value=failure(404, "Route not found"))
    async with make_client(waits) as client:
        with pytest.raises(RequestRejectedError, match=r"HTTP 404 .*Route not found"):
            await client.get_segments()
    assert route.call_count == 1


@respx.mock
async def test_400_without_token_message_is_a_rejected_request(waits: Waits) -> None:
    respx.get(URL).mock(return_value=failure(400, "segments disabled"))
    async with make_client(waits) as client:
        with pytest.raises(RequestRejectedError, match="segments disabled"):
            await client.get_segments()


@respx.mock
async def test_retries_503_then_succeeds(waits: Waits) -> None:
    route = respx.get(URL).mock(side_effect=[failure(503), failure(502), ok()])
    async with make_client(waits, backoff_base=1.0, backoff_cap=8.0) as client:
        segments = await client.get_segments()
    assert len(segments) == 1
    assert route.call_count == 3
    # Equal jitter with random()=0.5: 3/4 of each doubling step.
    assert waits.waits == [0.75, 1.5]


@respx.mock
async def test_backoff_is_capped(waits: Waits) -> None:
    respx.get(URL).mock(side_effect=[failure(500)] * 5 + [ok()])
    async with make_client(waits, max_attempts=6, backoff_base=1.0, backoff_cap=2.0) as client:
        await client.get_segments()
    assert max(waits.waits) <= 2.0
    assert waits.waits[-1] == 1.5


@respx.mock
async def test_5xx_streak_longer_than_budget_raises_server_error(waits: Waits) -> None:
    route = respx.get(URL).mock(return_value=failure(503))
    async with make_client(waits, max_attempts=3) as client:
        with pytest.raises(ServerError, match=r"HTTP 503.*gave up after 3 requests"):
            await client.get_segments()
    assert route.call_count == 3


@respx.mock
async def test_429_honours_retry_after_seconds(waits: Waits) -> None:
    headers = {"Retry-After": "7"}
    respx.get(URL).mock(side_effect=[failure(429, headers=headers), ok()])
    async with make_client(waits, max_retry_after=10) as client:
        await client.get_segments()
    assert waits.waits == [7.0]


@respx.mock
async def test_429_honours_retry_after_http_date(waits: Waits) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    respx.get(URL).mock(side_effect=[failure(429, headers={"Retry-After": when}), ok()])
    async with make_client(waits, max_retry_after=30) as client:
        await client.get_segments()
    assert 17 <= waits.waits[0] <= 20


@respx.mock
async def test_429_without_retry_after_uses_backoff(waits: Waits) -> None:
    respx.get(URL).mock(side_effect=[failure(429), ok()])
    async with make_client(waits, backoff_base=2.0) as client:
        await client.get_segments()
    assert waits.waits == [1.5]


@respx.mock
async def test_429_asking_longer_than_cap_fails_at_once(waits: Waits) -> None:
    route = respx.get(URL).mock(return_value=failure(429, headers={"Retry-After": "3600"}))
    async with make_client(waits, max_retry_after=60) as client:
        with pytest.raises(RateLimitedError, match=r"3600s.*BOTPENGUIN_MAX_RETRY_AFTER") as caught:
            await client.get_segments()
    assert route.call_count == 1
    assert waits.waits == []
    assert not caught.value.retryable, "the fetch task must not retry it 10 s later either"


@respx.mock
async def test_retry_that_would_pass_the_deadline_is_not_started(waits: Waits) -> None:
    headers = {"Retry-After": "30"}
    route = respx.get(URL).mock(return_value=failure(429, headers=headers))
    async with make_client(waits, deadline=45, max_retry_after=60, max_attempts=5) as client:
        with pytest.raises(RateLimitedError, match="BOTPENGUIN_DEADLINE"):
            await client.get_segments()
    assert route.call_count == 2
    assert waits.waits == [30.0]


@respx.mock
async def test_timeouts_are_retried_then_reported(waits: Waits) -> None:
    route = respx.get(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    async with make_client(waits, max_attempts=2) as client:
        with pytest.raises(APITimeoutError, match="BOTPENGUIN_READ_TIMEOUT"):
            await client.get_segments()
    assert route.call_count == 2


@respx.mock
async def test_connection_errors_are_retried_then_reported(waits: Waits) -> None:
    route = respx.get(URL).mock(side_effect=[httpx.ConnectError("refused"), ok()])
    async with make_client(waits) as client:
        assert len(await client.get_segments()) == 1
    assert route.call_count == 2

    respx.get(URL).mock(side_effect=httpx.ConnectError("refused"))
    async with make_client(waits, max_attempts=2) as client:
        with pytest.raises(APIConnectionError, match=r"Cannot connect.*BOTPENGUIN_BASE_URL"):
            await client.get_segments()


@respx.mock
async def test_truncated_body_is_retried(waits: Waits) -> None:
    route = respx.get(URL).mock(side_effect=[httpx.RemoteProtocolError("incomplete"), ok()])
    async with make_client(waits) as client:
        assert len(await client.get_segments()) == 1
    assert route.call_count == 2


@pytest.mark.parametrize(
    ("response", "match"),
    [
        (httpx.Response(200, text="<html>Maintenance</html>"), "not JSON"),
        (httpx.Response(200, json=[1, 2]), "not an object"),
        (httpx.Response(200, json={"data": []}), "'success'"),
        (httpx.Response(200, json={"success": True, "data": {"a": 1}}), "expected a list"),
        (httpx.Response(200, json={"success": True, "data": [{"segmentName": "x"}]}), "_id"),
        (httpx.Response(200, json={"success": True, "data": ["x"]}), "not an object"),
        (
            httpx.Response(200, json={"success": False, "message": "bad filter", "code": 422}),
            "bad filter",
        ),
    ],
    ids=["html", "array", "no-success", "data-not-list", "no-id", "item-not-object", "false-422"],
)
@respx.mock
async def test_bad_payload_is_a_response_error_not_retried(
    waits: Waits, response: httpx.Response, match: str
) -> None:
    route = respx.get(URL).mock(return_value=response)
    async with make_client(waits) as client:
        with pytest.raises(ResponseError, match=match) as caught:
            await client.get_segments()
    assert route.call_count == 1
    assert not caught.value.retryable


@respx.mock
async def test_success_false_with_5xx_code_is_retried(waits: Waits) -> None:
    busy = httpx.Response(200, json={"success": False, "message": "busy", "code": 503})
    route = respx.get(URL).mock(side_effect=[busy, ok()])
    async with make_client(waits) as client:
        assert len(await client.get_segments()) == 1
    assert route.call_count == 2


@respx.mock
async def test_success_false_with_5xx_code_gives_retryable_response_error(waits: Waits) -> None:
    busy = httpx.Response(200, json={"success": False, "message": "busy", "code": 503})
    respx.get(URL).mock(return_value=busy)
    async with make_client(waits, max_attempts=2) as client:
        with pytest.raises(ResponseError, match="busy") as caught:
            await client.get_segments()
    assert caught.value.retryable


@respx.mock
async def test_redirect_is_not_followed_and_token_stays(waits: Waits) -> None:
    respx.get(URL).mock(
        return_value=httpx.Response(302, headers={"Location": "https://elsewhere.test/x"})
    )
    other = respx.get("https://elsewhere.test/x").mock(return_value=ok())
    async with make_client(waits) as client:
        with pytest.raises(RequestRejectedError, match=r"redirected.*elsewhere\.test"):
            await client.get_segments()
    assert not other.called


@respx.mock
async def test_token_echoed_by_the_api_is_redacted(waits: Waits) -> None:
    respx.get(URL).mock(return_value=failure(404, f"no account for {TOKEN}"))
    async with make_client(waits) as client:
        with pytest.raises(RequestRejectedError) as caught:
            await client.get_segments()
    assert TOKEN not in str(caught.value)
    assert "**********" in str(caught.value)


@pytest.mark.parametrize("status", [404, 200], ids=["http-error", "success-false"])
@respx.mock
async def test_token_cut_by_the_message_length_limit_is_still_redacted(
    waits: Waits, status: int
) -> None:
    # The one-line limit (200 characters) falls inside the echoed token: cutting first would
    # leave its first characters in the message.
    respx.get(URL).mock(return_value=failure(status, "x" * 180 + f" {TOKEN}", code=404))
    async with make_client(waits) as client:
        with pytest.raises(BotPenguinError) as caught:
            await client.get_segments()
    assert TOKEN[:8] not in str(caught.value)
    assert "**" in str(caught.value)


@respx.mock
async def test_error_data_list_is_used_as_message(waits: Waits) -> None:
    body = {"success": False, "message": "", "data": ["first problem", "second"], "code": 422}
    respx.get(URL).mock(return_value=httpx.Response(422, json=body))
    async with make_client(waits) as client:
        with pytest.raises(RequestRejectedError, match="first problem; second"):
            await client.get_segments()


@respx.mock
async def test_each_retry_is_logged_with_status_and_wait(
    waits: Waits, caplog: pytest.LogCaptureFixture
) -> None:
    respx.get(URL).mock(side_effect=[failure(503), ok()])
    async with make_client(waits, backoff_base=1.0) as client:
        with caplog.at_level("WARNING", logger="botpenguin"):
            await client.get_segments()
    assert "HTTP 503; retry 1 of 3 in 0.75s" in caplog.text
    assert TOKEN not in caplog.text


def test_repr_hides_the_token() -> None:
    client = BotPenguinClient(TOKEN, base_url=BASE)
    assert TOKEN not in repr(client)
    assert TOKEN not in str(client)


def raw(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": "application/json"})


@respx.mock
async def test_a_lone_surrogate_escape_is_read_as_the_replacement_character(
    waits: Waits, caplog: pytest.LogCaptureFixture
) -> None:
    # What JavaScript's JSON.stringify sends for a name cut in the middle of an emoji.
    body = (
        b'{"success": true, "data": [{"_id": "a1", "segmentName": "Fans \\ud83d",'
        b' "note": "\\ud83d\\ude00 ok \\udc00"}]}'
    )
    respx.get(URL).mock(return_value=raw(body))

    async with make_client(waits) as client:
        [segment] = await client.get_segments()

    assert segment.name == "Fans \ufffd"
    assert segment.extra["note"] == "\U0001f600 ok \ufffd", "a valid pair stays one emoji"
    assert "2 lone surrogate escape(s) as U+FFFD" in caplog.text


@respx.mock
async def test_nan_and_infinity_are_read_as_null(
    waits: Waits, caplog: pytest.LogCaptureFixture
) -> None:
    body = (
        b'{"success": true, "data": [{"_id": "a1", "score": NaN,'
        b' "reach": [Infinity, -Infinity, 1.5]}]}'
    )
    respx.get(URL).mock(return_value=raw(body))

    async with make_client(waits) as client:
        [segment] = await client.get_segments()

    assert segment.extra == {"score": None, "reach": [None, None, 1.5]}
    assert "3 NaN/Infinity value(s) as null" in caplog.text


@respx.mock
async def test_a_body_that_is_not_json_is_still_refused(waits: Waits) -> None:
    respx.get(URL).mock(return_value=raw(b'{"success": true, "data": [nope]}'))
    async with make_client(waits) as client:
        with pytest.raises(ResponseError, match="not JSON"):
            await client.get_segments()


def test_a_socks_proxy_without_socks_support_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    try:
        import socksio  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("socksio is installed here, so the SOCKS proxy would just work")
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(ConfigurationError, match=r"httpx\[socks\]"):
        BotPenguinClient(TOKEN, base_url=BASE)
