"""Property tests (hypothesis).

Envelope parsing: whatever JSON or bytes come back, the client answers with segments or with
one of the pack's own one-line errors, never with a stray exception. Model conversion: any
valid segment survives ``Segment`` exactly -- back to the API's form, into a flat record,
and through a snapshot file -- with every unknown field kept and nothing invented.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_botpenguin.core.client import BotPenguinClient
from prefect_botpenguin.core.errors import AuthenticationError, BotPenguinError, ResponseError
from prefect_botpenguin.core.models import RECORD_KEYS, Segment, parse_envelope, parse_segments
from prefect_botpenguin.core.retry import RetryPolicy
from prefect_botpenguin.snapshots import Snapshot

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


# -- model conversion ------------------------------------------------------------------------

# JSON as the standard defines it: no NaN or Infinity (Python's json accepts them, the API's
# Node.js serialiser never writes them).
standard_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
DOCUMENTED = ("_id", "_customer", "segmentName")
# Field names an API might send that clash with ours or with the model's own attributes.
AWKWARD_KEYS = ["id", "name", "customer_id", "extra", "to_record", "model_config", "__class__"]
extra_keys = (st.text(max_size=12) | st.sampled_from(AWKWARD_KEYS)).filter(
    lambda key: key not in DOCUMENTED
)
valid_segment = st.builds(
    lambda documented, extra: {**extra, **documented},
    st.fixed_dictionaries(
        {"_id": st.text(min_size=1, max_size=30)},
        optional={
            "_customer": st.none() | st.text(max_size=30),
            "segmentName": st.none() | st.text(),
        },
    ),
    st.dictionaries(extra_keys, standard_json, max_size=6),
)


# Fewer, smaller examples than above: each one is a whole account of generated segments.
MODEL_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@MODEL_SETTINGS
@given(st.lists(valid_segment, max_size=3))
def test_valid_segments_round_trip_exactly_through_the_model(data: list[dict[str, Any]]) -> None:
    segments = parse_segments(json.loads(json.dumps(data)))
    assert [s.to_api_dict() for s in segments] == data


@MODEL_SETTINGS
@given(valid_segment)
def test_a_record_keeps_every_field_and_never_overwrites_the_documented_ones(
    data: dict[str, Any],
) -> None:
    segment = Segment.model_validate(data)
    record = segment.to_record()
    assert (record["id"], record["name"], record["customer_id"]) == (
        data["_id"],
        data.get("segmentName"),
        data.get("_customer"),
    )
    extra = {key: value for key, value in data.items() if key not in DOCUMENTED}
    renamed = {(f"api.{k}" if k in RECORD_KEYS else k): v for k, v in extra.items()}
    assert {k: v for k, v in record.items() if k not in RECORD_KEYS} == renamed


@MODEL_SETTINGS
@given(st.lists(valid_segment, max_size=3))
def test_a_snapshot_file_gives_back_the_segments_it_was_written_from(
    data: list[dict[str, Any]],
) -> None:
    snapshot = Snapshot(
        account="property", fetched_at=datetime.now(UTC), segments=tuple(parse_segments(data))
    )
    loaded = Snapshot.from_json_bytes(snapshot.to_json_bytes(), "memory://property.json")
    assert [s.to_api_dict() for s in loaded.segments] == data


# -- envelope parsing, without HTTP ----------------------------------------------------------


def parse_payload(payload: Any, status: int) -> list[Segment] | ResponseError:
    """Segments from a decoded body, or the ResponseError the pack raised for it."""
    try:
        envelope = parse_envelope(payload, status_code=status)
        return parse_segments(envelope.data, status_code=status)
    except ResponseError as exc:
        return exc


@PROPERTY_SETTINGS
@given(json_values, st.integers(min_value=200, max_value=299))
def test_any_payload_parses_to_segments_or_one_response_error(payload: Any, status: int) -> None:
    result = parse_payload(payload, status)
    if isinstance(result, ResponseError):
        assert "\n" not in str(result)
        assert result.status_code == status
    else:
        assert isinstance(payload, dict)
        assert all(isinstance(segment, Segment) for segment in result)
