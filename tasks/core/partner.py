"""The partner API: list a white-label partner's customers and get each one's API token.

Why: a partner (reseller) runs many customer accounts; with its own token it can list them
(``GET /customer/list?page=N``, 1-based, the first empty page ends the list) and fetch each
customer's permanent API token (``GET /ext/get-user-token?userId=<customer _id>``), which then
reads that customer's segments. These are plain calls through ``BotPenguinClient.request``, so
the pack's one retry policy and error taxonomy apply. No Prefect import.

A customer's token is a secret: it is returned as ``SecretStr`` and never put in a message.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictStr, ValidationError

from .client import BotPenguinClient
from .errors import ResponseError

CUSTOMER_LIST_PATH = "/customer/list"
USER_TOKEN_PATH = "/ext/get-user-token"  # noqa: S105 - a URL path, not a secret
MAX_CUSTOMER_PAGES = 10_000
"""Stop listing after this many pages even if none is empty (an API ignoring ``page``)."""


class Customer(BaseModel):
    """One customer account of a partner, as ``GET /customer/list`` lists it; extras kept."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: StrictStr = Field(alias="_id", min_length=1, description="Customer ObjectId.")
    name: StrictStr | None = Field(default=None, description="Customer name.")

    @property
    def label(self) -> str:
        """How the account is named in artifacts and exports: its name, else its id."""
        name = " ".join((self.name or "").split())
        return name or self.id


async def list_customers(client: BotPenguinClient, page: int) -> list[Customer]:
    """``GET /customer/list?page=N`` (1-based, oldest first so pages stay stable)."""
    envelope = await client.request(
        "GET", CUSTOMER_LIST_PATH, params={"page": page, "sort": "createdAt"}
    )
    data: Any = envelope.data
    if not isinstance(data, list):
        raise ResponseError(
            f"BotPenguin customer list page {page} has 'data' of type {type(data).__name__}, "
            "expected a list; check the partner credentials' base URL."
        )
    customers: list[Customer] = []
    for index, item in enumerate(data):
        try:
            customers.append(Customer.model_validate(item))
        except ValidationError:
            raise ResponseError(
                f"BotPenguin customer #{index} on list page {page} has no string '_id'; "
                "the partner API may have changed, please report it."
            ) from None
    return customers


async def iter_customers(client: BotPenguinClient) -> AsyncGenerator[list[Customer], None]:
    """Yield the partner's customers page by page, until the first empty page.

    A customer already seen on an earlier page is skipped (pages shift when customers are
    added while listing). A non-empty page with no new customer means the API ignores
    ``page``, which would otherwise loop forever, so it raises ``ResponseError``.
    """
    seen: set[str] = set()
    for page in range(1, MAX_CUSTOMER_PAGES + 1):
        customers = await list_customers(client, page)
        if not customers:
            return
        new = [customer for customer in customers if customer.id not in seen]
        if not new:
            raise ResponseError(
                f"BotPenguin customer list page {page} repeats only customers already listed; "
                "the partner API may ignore 'page', please report it."
            )
        seen.update(customer.id for customer in new)
        yield new
    raise ResponseError(
        f"BotPenguin customer list did not end within {MAX_CUSTOMER_PAGES} pages; "
        "the partner API may ignore 'page', please report it."
    )


async def get_customer_token(client: BotPenguinClient, customer_id: str) -> SecretStr:
    """``GET /ext/get-user-token``: the customer's permanent API token, kept secret."""
    envelope = await client.request("GET", USER_TOKEN_PATH, params={"userId": customer_id})
    data: Any = envelope.data
    token = data.get("permanentToken") if isinstance(data, dict) else None
    key = token.get("key") if isinstance(token, dict) else None
    if not isinstance(key, str) or not key.strip():
        # Never echo the payload: it may hold a token in an unexpected place.
        raise ResponseError(
            f"BotPenguin gave no 'permanentToken.key' for customer {customer_id}; "
            "the customer may have no API token yet (BotPenguin panel: Developer -> API Access)."
        )
    return SecretStr(key.strip())
