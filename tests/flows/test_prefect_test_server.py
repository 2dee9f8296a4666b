"""The suite's Prefect test server asks for a quick retry of its 503s, and of nothing else."""

from __future__ import annotations

from typing import Any

import httpx
from prefect_test_server import RETRY_AFTER_SECONDS, with_retry_after


async def answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A stand-in server that answers the status its path names, like Prefect's 503 on a lock."""
    status = int(scope["path"].strip("/"))
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


async def test_a_503_asks_for_a_retry_within_a_quarter_second_and_keeps_its_headers() -> None:
    transport = httpx.ASGITransport(app=with_retry_after(answer))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        refused = await client.get("/503")
        served = await client.get("/200")

    low, high = RETRY_AFTER_SECONDS
    assert refused.status_code == 503
    assert low <= float(refused.headers["retry-after"]) <= high
    assert refused.headers["content-type"] == "application/json"
    assert served.status_code == 200
    assert "retry-after" not in served.headers


def test_the_session_retries_a_refused_request_eight_times(prefect_harness: None) -> None:
    """Quick retries cover less time than Prefect's back-off: the session allows more of them."""
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES

    assert PREFECT_CLIENT_MAX_RETRIES.value() == 8
