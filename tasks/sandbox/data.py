"""Invented sample data for the sandbox: tokens, the sample segments, simulated accounts.

All of it is invented (a fictional shop, "Larkspur Tea Co."); nothing here is real customer
data, and ``SANDBOX_TOKEN`` is not a secret.
"""

from __future__ import annotations

import copy
from typing import Any

# Re-exported: older imports found these here.
from .generated import GeneratedAudience as GeneratedAudience
from .generated import generated_contact as generated_contact
from .generated import generated_contact_id as generated_contact_id

SANDBOX_TOKEN: str = "sandbox-token-0000-sample-data"  # noqa: S105 - sample, not a secret
"""The token the sandbox accepts by default. Sample data only; not a secret."""

SANDBOX_PARTNER_TOKEN: str = "sandbox-partner-token-0000-sample"  # noqa: S105 - not a secret
"""The partner (white-label reseller) token of ``SandboxServer.simulated``. Not a secret."""

CUSTOMER_PAGE_SIZE = 20
"""Customers per ``GET /customer/list`` page; BotPenguin does not document its page size."""

INVALID_OBJECT_ID_MESSAGE = (
    "Argument passed in must be a single String of 12 bytes or a string of 24 hex characters"
)
"""What the real API answers (HTTP 400) when the bearer token is not an ObjectId."""

_CUSTOMER_ID = "6a1c0ffee5a1e0000b0a7ea5"

# Invented segments for the fictional "Larkspur Tea Co.". They deliberately include what a
# real account can throw at exports and diffs: non-ASCII names, CSV-hostile characters,
# nested objects, a field only one segment has, nulls and floats.


def _active_segment(
    suffix: str,
    name: str,
    description: str,
    count: int,
    filters: list[tuple[str, str, str]],
    created: str,
    updated: str,
) -> dict[str, Any]:
    """An active sample segment: the samples that differ only in values share one shape."""
    return {
        "_id": f"6a1c0ffee5a1e0000b0a7e{suffix}",
        "_customer": _CUSTOMER_ID,
        "segmentName": name,
        "description": description,
        "contactCount": count,
        "isActive": True,
        "filters": [{"field": f, "operator": o, "value": v} for f, o, v in filters],
        "createdAt": created,
        "updatedAt": updated,
    }


SAMPLE_SEGMENTS: list[dict[str, Any]] = [
    {
        "_id": "6a1c0ffee5a1e0000b0a7e01",
        "_customer": _CUSTOMER_ID,
        "segmentName": "VIP tea club",
        "description": "Larkspur Tea Co. customers tagged vip (invented sample data).",
        "contactCount": 412,
        "isActive": True,
        "filters": [
            {"field": "tags", "operator": "contains", "value": "vip"},
            {"field": "hasOrdered", "operator": "equals", "value": True},
        ],
        "stats": {"averageOrderValue": 38.75, "currency": "USD"},
        "createdAt": "2024-02-11T09:15:00.000Z",
        "updatedAt": "2025-01-20T16:42:13.512Z",
    },
    {
        "_id": "6a1c0ffee5a1e0000b0a7e02",
        "_customer": _CUSTOMER_ID,
        "segmentName": "Clientes de São Paulo",
        "description": None,
        "contactCount": 1287,
        "isActive": True,
        "filters": [{"field": "city", "operator": "equals", "value": "São Paulo"}],
        "createdAt": "2024-03-02T12:00:00.000Z",
        "updatedAt": "2024-11-05T08:30:45.000Z",
    },
    {
        "_id": "6a1c0ffee5a1e0000b0a7e03",
        "_customer": _CUSTOMER_ID,
        "segmentName": "Café ☕ lovers",
        "description": "Asked the bot about café blends or ordered a latte.",
        "contactCount": 96,
        "isActive": True,
        "filters": [
            {
                "field": "attributes.favouriteDrink",
                "operator": "in",
                "value": ["café au lait", "flat white"],
            },
            {
                "field": "lastSeenAt",
                "operator": "within",
                "value": {"amount": 30, "unit": "days"},
            },
        ],
        "createdAt": "2024-05-17T18:05:09.000Z",
        "updatedAt": "2024-05-17T18:05:09.000Z",
    },
    _active_segment(
        "04",
        "दिल्ली के ग्राहक",
        "Contacts whose language is Hindi and city is Delhi.",
        530,
        [("language", "equals", "hi"), ("city", "equals", "दिल्ली")],
        "2024-07-01T05:30:00.000Z",
        "2025-02-14T10:10:10.000Z",
    ),
    _active_segment(
        "05",
        '抹茶ファン, "Gold" tier\nnorth region',
        'Name has a comma, "double quotes" and a newline on purpose.',
        58,
        [("tags", "contains", "matcha"), ("tier", "equals", "gold")],
        "2024-09-09T09:09:09.000Z",
        "2024-12-24T23:59:59.999Z",
    ),
    {
        "_id": "6a1c0ffee5a1e0000b0a7e06",
        "_customer": _CUSTOMER_ID,
        "segmentName": "Lapsed subscribers (2023)",
        "description": None,
        "contactCount": 0,
        "isActive": False,
        "archivedReason": "Merged into the winter win-back campaign.",
        "filters": [],
        "createdAt": "2023-01-03T14:00:00.000Z",
        "updatedAt": "2024-01-03T14:00:00.000Z",
    },
]


def simulated_accounts(
    count: int, *, segments_per_account: int | None = None
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """``count`` invented customer accounts for fan-out demos, tests and benchmarks.

    Returns ``(accounts, customers)``, both keyed by token, ready for ``SandboxServer``. Each
    account has a distinct 24-hex token (real tokens are ObjectIds), a customer record as the
    partner API lists it, and segments of its own: the sample segments with the account's ids,
    or ``segments_per_account`` of them made by cycling through the samples.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count!r}")
    per_account = len(SAMPLE_SEGMENTS) if segments_per_account is None else segments_per_account
    if per_account < 0:
        raise ValueError(f"segments_per_account must be >= 0, got {segments_per_account!r}")
    accounts: dict[str, list[dict[str, Any]]] = {}
    customers: dict[str, dict[str, Any]] = {}
    for number in range(1, count + 1):
        token = f"7e4e{number:020x}"
        customer_id = f"5a4d{number:020x}"
        customers[token] = {
            "_id": customer_id,
            "name": f"Sample Customer {number:04d}",
            "contact": {"email": f"customer{number:04d}@example.com"},
            "status": "active",
            "createdAt": f"2024-01-01T00:00:00.{number % 1000:03d}Z",
        }
        segments = []
        for index in range(per_account):
            template = SAMPLE_SEGMENTS[index % len(SAMPLE_SEGMENTS)]
            segment = copy.deepcopy(template)
            segment["_id"] = f"{number:08x}{index:016x}"
            segment["_customer"] = customer_id
            if index >= len(SAMPLE_SEGMENTS):
                segment["segmentName"] = f"{template['segmentName']} #{index}"
            segments.append(segment)
        accounts[token] = segments
    return accounts, customers


# -- contacts (segment members) ----------------------------------------------------------------

MEMBER_PAGE_SIZE = 5
"""Contacts per ``POST /inbox/users`` page; BotPenguin does not document its page size."""

_SEGMENT_IDS = [segment["_id"] for segment in SAMPLE_SEGMENTS]

# Invented contacts of "Larkspur Tea Co.": fictional names, example.com addresses and
# +1-555-01xx numbers (reserved for fiction). Fields are sparse on purpose: not every contact
# has an email, a phone or attributes, and one carries a field no other contact has.
SAMPLE_CONTACTS: list[dict[str, Any]] = [
    {
        "_id": "c0ffee00000000000000c001",
        "name": "Sample Contact One",
        "email": "sample.one@example.com",
        "phone": "+1-555-0101",
        "tags": ["vip", "matcha"],
        "status": "active",
        "createdAt": "2024-02-01T10:00:00.000Z",
        "attributes": {"city": "Portland", "favouriteDrink": "flat white"},
    },
    {
        "_id": "c0ffee00000000000000c002",
        "name": "Exemplo da Silva",
        "email": "exemplo.silva@example.com",
        "phone": "+1-555-0102",
        "tags": ["vip"],
        "status": "active",
        "createdAt": "2024-03-05T12:30:00.000Z",
        "attributes": {"city": "São Paulo"},
    },
    {
        "_id": "c0ffee00000000000000c003",
        "name": "नमूना संपर्क",
        "phone": "+1-555-0103",
        "tags": [],
        "status": "active",
        "createdAt": "2024-07-02T06:00:00.000Z",
        "attributes": {"city": "दिल्ली", "language": "hi"},
    },
    {
        "_id": "c0ffee00000000000000c004",
        "name": "見本 太郎",
        "email": "mihon.taro@example.com",
        "tags": ["matcha", "gold"],
        "status": "active",
        "createdAt": "2024-09-10T09:09:09.000Z",
    },
    {
        "_id": "c0ffee00000000000000c005",
        "name": 'Placeholder "Café" Person, Jr.',
        "email": "placeholder.person@example.com",
        "phone": "+1-555-0105",
        "tags": ["vip"],
        "status": "blocked",
        "createdAt": "2024-05-20T18:00:00.000Z",
        "attributes": {"favouriteDrink": "café au lait"},
        "orderCount": 7,
    },
    {
        "_id": "c0ffee00000000000000c006",
        "name": "Fictional Visitor",
        "status": "active",
        "createdAt": "2025-01-01T00:00:00.000Z",
    },
    {
        "_id": "c0ffee00000000000000c007",
        "name": "Sample Contact Seven",
        "email": "sample.seven@example.com",
        "phone": "+1-555-0107",
        "tags": ["vip"],
        "status": "active",
        "createdAt": "2024-02-14T14:14:00.000Z",
        "lastSeenAt": "2025-02-01T08:00:00.000Z",
    },
    {
        "_id": "c0ffee00000000000000c008",
        "name": "Amostra Pereira",
        "email": "amostra.pereira@example.com",
        "phone": "+1-555-0108",
        "tags": [],
        "status": "active",
        "createdAt": "2024-03-09T11:00:00.000Z",
        "attributes": {"city": "São Paulo", "favouriteDrink": "flat white"},
    },
    {
        "_id": "c0ffee00000000000000c009",
        "name": "उदाहरण ग्राहक",
        "email": "udaharan@example.com",
        "tags": ["vip"],
        "status": "active",
        "createdAt": "2024-07-15T07:45:00.000Z",
        "attributes": {"city": "दिल्ली"},
    },
    {
        "_id": "c0ffee00000000000000c010",
        "name": "Sample Contact Ten",
        "phone": "+1-555-0110",
        "status": "active",
        "createdAt": "2024-04-01T00:00:00.000Z",
        "attributes": {"city": "São Paulo"},
    },
    {
        "_id": "c0ffee00000000000000c011",
        "name": "Demo Contact Eleven",
        "email": "demo.eleven@example.com",
        "phone": "+1-555-0111",
        "tags": ["vip"],
        "status": "active",
        "createdAt": "2024-02-20T20:20:00.000Z",
    },
    {
        "_id": "c0ffee00000000000000c012",
        "name": "Test Persona Twelve",
        "email": "persona.twelve@example.com",
        "tags": ["vip", "matcha"],
        "status": "active",
        "createdAt": "2024-02-28T12:00:00.000Z",
    },
]

SAMPLE_MEMBERSHIP: dict[str, list[str]] = {
    _SEGMENT_IDS[0]: [f"c0ffee00000000000000c0{n:02d}" for n in (1, 2, 5, 7, 9, 11, 12)],
    _SEGMENT_IDS[1]: [f"c0ffee00000000000000c0{n:02d}" for n in (2, 8, 10)],
    _SEGMENT_IDS[2]: [f"c0ffee00000000000000c0{n:02d}" for n in (1, 5, 8)],
    _SEGMENT_IDS[3]: [f"c0ffee00000000000000c0{n:02d}" for n in (3, 9)],
    _SEGMENT_IDS[4]: [f"c0ffee00000000000000c0{n:02d}" for n in (1, 4, 12)],
    _SEGMENT_IDS[5]: [],
}
"""Segment id -> member contact ids, for the sample segments (the lapsed one has none)."""


class ContactBook:
    """One account's contacts and which segments each belongs to, as the sandbox serves them.

    Not thread-safe on its own: the sandbox calls it under its lock.
    """

    def __init__(
        self, contacts: list[dict[str, Any]], membership: dict[str, list[str]] | None = None
    ) -> None:
        self._contacts = {contact["_id"]: copy.deepcopy(contact) for contact in contacts}
        self._membership = {
            segment_id: list(dict.fromkeys(ids)) for segment_id, ids in (membership or {}).items()
        }

    @classmethod
    def sample(cls) -> ContactBook:
        """The invented contacts and their membership of the sample segments."""
        return cls(SAMPLE_CONTACTS, SAMPLE_MEMBERSHIP)

    def count(self, segment_ids: list[str]) -> int:
        return len(self._ids(segment_ids))

    def page(self, segment_ids: list[str], start: int, stop: int) -> list[dict[str, Any]]:
        """Members of any of ``segment_ids`` (all contacts if none) in ``[start, stop)``."""
        return [copy.deepcopy(self._contacts[i]) for i in self._ids(segment_ids)[start:stop]]

    def members(self, segment_id: str) -> list[str]:
        return list(self._membership.get(segment_id, []))

    def move(self, contact_id: str, source: str | None, target: str | None) -> None:
        """Take ``contact_id`` out of ``source`` and/or add it (last) to ``target``."""
        if contact_id not in self._contacts:
            raise KeyError(f"unknown contact {contact_id!r}")
        if source is not None:
            members = self._membership.get(source, [])
            if contact_id not in members:
                raise KeyError(f"contact {contact_id!r} is not in segment {source!r}")
            members.remove(contact_id)
        if target is not None:
            members = self._membership.setdefault(target, [])
            if contact_id not in members:
                members.append(contact_id)

    def _ids(self, segment_ids: list[str]) -> list[str]:
        if not segment_ids:
            return list(self._contacts)
        wanted: dict[str, None] = {}
        for segment_id in segment_ids:
            wanted.update(dict.fromkeys(self._membership.get(segment_id, [])))
        return [i for i in self._contacts if i in wanted]  # in contact order, like one query
