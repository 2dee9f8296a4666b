"""Invented sample data for the sandbox: tokens, the sample segments, simulated accounts.

All of it is invented (a fictional shop, "Larkspur Tea Co."); nothing here is real customer
data, and ``SANDBOX_TOKEN`` is not a secret.
"""

from __future__ import annotations

import copy
from typing import Any

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
    {
        "_id": "6a1c0ffee5a1e0000b0a7e04",
        "_customer": _CUSTOMER_ID,
        "segmentName": "दिल्ली के ग्राहक",
        "description": "Contacts whose language is Hindi and city is Delhi.",
        "contactCount": 530,
        "isActive": True,
        "filters": [
            {"field": "language", "operator": "equals", "value": "hi"},
            {"field": "city", "operator": "equals", "value": "दिल्ली"},
        ],
        "createdAt": "2024-07-01T05:30:00.000Z",
        "updatedAt": "2025-02-14T10:10:10.000Z",
    },
    {
        "_id": "6a1c0ffee5a1e0000b0a7e05",
        "_customer": _CUSTOMER_ID,
        "segmentName": '抹茶ファン, "Gold" tier\nnorth region',
        "description": 'Name has a comma, "double quotes" and a newline on purpose.',
        "contactCount": 58,
        "isActive": True,
        "filters": [
            {"field": "tags", "operator": "contains", "value": "matcha"},
            {"field": "tier", "operator": "equals", "value": "gold"},
        ],
        "createdAt": "2024-09-09T09:09:09.000Z",
        "updatedAt": "2024-12-24T23:59:59.999Z",
    },
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
