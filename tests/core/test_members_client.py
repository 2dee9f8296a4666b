"""Unit tests of the member pager with respx: the body, paging, the stop rule, the guards."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from prefect_botpenguin.core.client import BotPenguinClient
from prefect_botpenguin.core.errors import ResponseError, ServerError
from prefect_botpenguin.core.members import (
    EMPTY_FILTERS,
    Contact,
    get_segment_members,
    iter_members,
    iter_segment_members,
)
from prefect_botpenguin.core.retry import RetryPolicy

BASE = "https://api.example-whitelabel.test"
USERS = f"{BASE}/inbox/users"
SEGMENTS = f"{BASE}/inbox/segments"
TOKEN = "0123456789abcdef01234567"
SEGMENT = "5e9" + "0" * 21
DOCUMENTED_FILTERS = {
    "searchText",
    "tags",
    "status",
    "segments",
    "applicableFilters",
    "lastSeenAt",
    "createdAt",
    "lastMessageBy",
    "_botWebsite",
    "_botWhatsapp",
    "_botTelegram",
    "_botFacebook",
    "_agentAssigned",
    "isOnline",
    "userInteracted",
    "isLiveChatActive",
    "hasOrdered",
}


def contact(n: int, **fields: Any) -> dict[str, Any]:
    return {"_id": f"{n:024x}", "name": f"Sample Contact {n}", **fields}


def page(*contacts: dict[str, Any], **envelope: Any) -> httpx.Response:
    body = {"success": True, "message": "", "data": list(contacts), "code": 200, **envelope}
    return httpx.Response(200, json=body)


async def no_wait(seconds: float) -> None:
    pass


def client(attempts: int = 3) -> BotPenguinClient:
    return BotPenguinClient(
        TOKEN,
        base_url=BASE,
        retry_policy=RetryPolicy(max_attempts=attempts, backoff_base=0, backoff_cap=0),
        sleep=no_wait,
    )


def bodies(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


async def collect(segment_id: str = SEGMENT, **options: Any) -> list[list[str]]:
    async with client() as api:
        return [
            [c.id for c in contacts]
            async for contacts in iter_segment_members(api, segment_id, **options)
        ]


@respx.mock
async def test_pages_from_one_until_the_first_empty_page_with_every_filter_sent():
    route = respx.post(USERS).mock(
        side_effect=[page(contact(1), contact(2)), page(contact(3)), page()]
    )

    pages = await collect()

    assert pages == [[f"{1:024x}", f"{2:024x}"], [f"{3:024x}"]]
    sent = bodies(route)
    assert [body["page"] for body in sent] == [1, 2, 3]
    for body in sent:
        assert set(body) >= DOCUMENTED_FILTERS
        assert body["segments"] == [SEGMENT]
        assert {k: v for k, v in body.items() if k not in ("segments", "page")} == EMPTY_FILTERS
    assert route.calls[0].request.headers["authtype"] == "Key"


@respx.mock
async def test_an_empty_first_page_is_a_segment_without_members():
    respx.post(USERS).mock(return_value=page())
    assert await collect() == []


@respx.mock
async def test_a_contact_keeps_every_field_and_round_trips_through_json():
    nested = contact(1, email="one@example.com", tags=["vip"], attributes={"city": "São Paulo"})
    nested["id"] = "a field the API calls id"
    respx.post(USERS).mock(side_effect=[page(nested), page()])
    async with client() as api:
        members = await get_segment_members(api, SEGMENT)

    (only,) = members
    assert only.id == nested["_id"]
    assert only.to_api_dict() == nested
    assert Contact.model_validate_json(only.model_dump_json()) == only
    record = only.to_record(SEGMENT)
    assert record["segment_id"] == SEGMENT
    assert record["id"] == nested["_id"]
    assert record["api.id"] == "a field the API calls id"
    assert only.to_record(SEGMENT, ["email", "missing"]) == {
        "segment_id": SEGMENT,
        "id": nested["_id"],
        "email": "one@example.com",
        "missing": None,
    }


@respx.mock
async def test_a_server_repeating_the_same_page_is_stopped_by_the_loop_guard():
    route = respx.post(USERS).mock(return_value=page(contact(1), contact(2)))

    with pytest.raises(ResponseError, match="page 2 repeats page 1"):
        await collect()
    assert route.call_count == 2


@respx.mock
async def test_a_server_that_never_sends_an_empty_page_stops_at_the_page_cap():
    calls = iter(range(1, 10_000))
    route = respx.post(USERS).mock(side_effect=lambda request: page(contact(next(calls))))

    with pytest.raises(ResponseError, match="no empty page after 5 pages"):
        await collect(max_pages=5)
    assert route.call_count == 5


@respx.mock
async def test_a_page_that_fails_once_is_retried_and_the_listing_goes_on():
    route = respx.post(USERS).mock(
        side_effect=[page(contact(1)), httpx.Response(503), page(contact(2)), page()]
    )

    assert await collect() == [[f"{1:024x}"], [f"{2:024x}"]]
    assert [body["page"] for body in bodies(route)] == [1, 2, 2, 3]


@respx.mock
async def test_a_page_that_fails_after_its_retries_fails_the_whole_listing():
    respx.post(USERS).mock(side_effect=[page(contact(1)), *[httpx.Response(503)] * 3])
    async with client() as api:
        with pytest.raises(ServerError, match="gave up after 3 requests"):
            await get_segment_members(api, SEGMENT)


@respx.mock
async def test_an_announced_total_reveals_a_listing_that_ended_early():
    respx.post(USERS).mock(side_effect=[page(contact(1), total=3), page(total=3)])
    with pytest.raises(ResponseError, match="empty after 1 of the 3 contacts") as caught:
        await collect()
    assert caught.value.retryable, "members leaving mid-listing end it early too: try again"


@respx.mock
async def test_an_announced_total_that_matches_is_accepted():
    respx.post(USERS).mock(side_effect=[page(contact(1), total=1), page(total=1)])
    assert await collect() == [[f"{1:024x}"]]


@respx.mock
async def test_the_latest_announced_total_counts_when_it_changes_mid_listing():
    respx.post(USERS).mock(side_effect=[page(contact(1), total=2), page(totalCount=1)])
    assert await collect() == [[f"{1:024x}"]]


@respx.mock
async def test_data_that_is_not_a_list_of_contacts_is_refused_without_quoting_them():
    respx.post(USERS).mock(return_value=page({"name": "Sample Contact", "phone": "+1-555-0100"}))
    with pytest.raises(ResponseError) as caught:
        await collect()
    assert "contact #0" in str(caught.value)
    assert "555" not in str(caught.value)
    assert "Sample" not in str(caught.value)

    respx.post(USERS).mock(
        return_value=httpx.Response(200, json={"success": True, "data": {"users": []}})
    )
    with pytest.raises(ResponseError, match="'data' is a dict"):
        await collect()


@respx.mock
async def test_all_segments_are_listed_one_after_another_each_page_labelled():
    other = "5ea" + "0" * 21
    respx.get(SEGMENTS).mock(
        return_value=httpx.Response(
            200, json={"success": True, "data": [{"_id": SEGMENT}, {"_id": other}]}
        )
    )
    route = respx.post(USERS).mock(side_effect=[page(contact(1)), page(), page(contact(1)), page()])
    async with client() as api:
        pages = [(p.segment_id, p.number, len(p.contacts)) async for p in iter_members(api)]

    assert pages == [(SEGMENT, 1, 1), (other, 1, 1)]
    assert [body["segments"] for body in bodies(route)] == [[SEGMENT]] * 2 + [[other]] * 2
