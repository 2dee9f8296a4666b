"""Property tests: whatever JSON or bytes come back, the client answers with segments or with
one of the pack's own errors, never with a stray exception."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.client import BotPenguinClient
from tasks.errors import AuthenticationError, BotPenguinError, ResponseError
from tasks.models import Segment
from tasks.retry import RetryPolicy

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
segment_like = st.fixed_dictionaries(
    {},
    optional={
        "_id": st.one_of(st.text(max_size=30), st.integers(), st.none()),
        "_customer": st.one_of(st.text(max_size=30), json_values),
        "segmentName": st.one_of(st.text(), json_values),
        "contactCount": json_values,
        "filters": json_values,
    },
)
envelope_like = st.fixed_dictionaries(
    {},
    optional={
        "success": st.one_of(st.booleans(), json_values),
        "message": json_values,
        "code": st.one_of(st.sampled_from([200, 400, 401, 429, 500, 503]), json_values),
        "data": st.one_of(st.lists(segment_like, max_size=5), json_values),
    },
)
PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def fetch_with_body(body: bytes, status: int = 200) -> list[Segment]:
    """Run the real client against an in-memory transport that answers ``body``."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})

    async def fetch() -> list[Segment]:
        client = BotPenguinClient(
            "0123456789abcdef01234567",
            base_url="https://api.example.test",
            retry_policy=RetryPolicy(max_attempts=1),
            transport=httpx.MockTransport(answer),
        )
        async with client:
            return await client.get_segments()

    return asyncio.run(fetch())


def pack_error_or_none(body: bytes, status: int = 200) -> BotPenguinError | None:
    """The pack error the client raised, or None when it returned segments.

    Any other exception propagates and fails the property.
    """
    try:
        fetch_with_body(body, status)
    except BotPenguinError as exc:
        return exc
    return None


def claims_auth_failure(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("success") is False


@PROPERTY_SETTINGS
@given(envelope_like)
def test_any_envelope_gives_segments_or_a_response_error(payload: dict[str, Any]) -> None:
    try:
        segments = fetch_with_body(json.dumps(payload).encode())
    except ResponseError:
        return
    except AuthenticationError:
        assert claims_auth_failure(payload)
        return
    assert payload["success"] is True
    assert [s.to_api_dict() for s in segments] == payload["data"]


@PROPERTY_SETTINGS
@given(json_values)
def test_any_json_document_gives_segments_or_a_pack_error(payload: Any) -> None:
    error = pack_error_or_none(json.dumps(payload).encode())
    if error is not None:
        assert isinstance(error, ResponseError | AuthenticationError)
        assert "\n" not in str(error)


@PROPERTY_SETTINGS
@given(st.binary(max_size=200), st.sampled_from([200, 201, 400, 404, 500, 502, 418]))
def test_any_bytes_with_any_status_give_a_pack_error(body: bytes, status: int) -> None:
    error = pack_error_or_none(body, status)
    if status >= 400:
        assert error is not None, "an error status never yields segments"
    if error is not None:
        assert "\n" not in str(error)
