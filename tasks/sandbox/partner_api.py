"""The emulated partner API, for fan-outs over many accounts.

``GET /customer/list`` pages through the partner's customers; ``GET /ext/get-user-token``
hands out one customer's permanent token. Only the partner token may call either.
"""

from __future__ import annotations

import copy
from typing import Any

from .api import AccountStore, ApiCall, ApiError, Routes


def _require_partner(store: AccountStore, call: ApiCall) -> None:
    if store.partner_token is None or call.token != store.partner_token:
        raise ApiError(403, "This API is available to partner accounts only")


def list_customers(store: AccountStore, call: ApiCall) -> list[dict[str, Any]]:
    """``GET /customer/list?page=N``: 1-based pages; a page past the end is empty."""
    _require_partner(store, call)
    raw = (call.query.get("page") or ["1"])[0]
    if not raw.isdigit() or int(raw) < 1:
        raise ApiError(400, "page must be a positive integer")
    page = int(raw)
    with store.lock:
        listed = list(store.customers.values())
        size = store.page_size
    return copy.deepcopy(listed[(page - 1) * size : page * size])


def get_user_token(store: AccountStore, call: ApiCall) -> dict[str, Any]:
    """``GET /ext/get-user-token?userId=<customer _id>``: the customer's permanent token."""
    _require_partner(store, call)
    user_id = (call.query.get("userId") or [""])[0].strip()
    if not user_id:
        raise ApiError(400, "userId is required")
    with store.lock:
        token = store.token_by_customer.get(user_id)
    if token is None:
        raise ApiError(404, "User not found")
    return {"permanentToken": {"key": token}}


ROUTES: Routes = {
    "/customer/list": {"GET": list_customers},
    "/ext/get-user-token": {"GET": get_user_token},
}
