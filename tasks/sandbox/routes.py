"""One API request to its answer: authentication as the real API does it, then the route.

Why apart: the server decides *whether* a request meets a fault or a delay; this decides
*what* the emulated BotPenguin answers, for normal requests and for 2xx faults that carry
real data alike. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import members_api, partner_api, segments_api
from .api import AccountStore, ApiCall, ApiError, Paged, Routes
from .data import INVALID_OBJECT_ID_MESSAGE
from .faults import Fault, with_page
from .transport import Reply, bearer_token, envelope, error_reply

_HEX24 = re.compile(r"[0-9a-fA-F]{24}")

API_ROUTES: Routes = {**segments_api.ROUTES, **partner_api.ROUTES, **members_api.ROUTES}
"""Path -> method -> handler: every emulated endpoint, one entry each."""


def authenticate(store: AccountStore, headers: Mapping[str, str]) -> str | Reply:
    """Apply the real API's auth rules; return the accepted token or the error reply."""
    token = bearer_token(headers.get("authorization"))
    authtype = headers.get("authtype")
    if token is None or authtype is None or authtype.strip() != "Key":
        return error_reply(401, "Unauthorized")
    with store.lock:
        known = token in store.accounts or token == store.partner_token
    if known:
        return token
    if _HEX24.fullmatch(token):
        return error_reply(401, "Invalid token")
    return error_reply(400, INVALID_OBJECT_ID_MESSAGE)


@dataclass(frozen=True)
class Incoming:
    """One API request as it arrived: path normalised, query parsed, header names lowercase."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes


def answer(store: AccountStore, request: Incoming) -> Reply:
    """The emulated API's answer: 404/405 for unknown routes, auth errors, then the data."""
    method, path = request.method, request.path
    route = API_ROUTES.get(path)
    if route is None:
        return error_reply(404, f"Cannot {method} {path}")
    handler = route.get(method)
    if handler is None:
        return error_reply(405, "Method Not Allowed", Allow=", ".join(sorted(route)))
    auth = authenticate(store, request.headers)
    if isinstance(auth, Reply):
        return auth
    try:
        data = handler(store, ApiCall(method, path, request.query, auth, request.body))
    except ApiError as exc:
        return error_reply(exc.status, exc.message, exc.data)
    if isinstance(data, Paged):
        return Reply(200, envelope(True, "", data.data, 200, data.extra))
    return Reply(200, envelope(True, "", data, 200))


def real_data(store: AccountStore, request: Incoming, fault: Fault) -> Any:
    """Data for a 2xx fault: the caller's account if its token is valid, else the first.

    ``fault.serve_page`` answers a paged request with that page instead of the one asked.
    """
    handler = API_ROUTES.get(request.path, {}).get(request.method)
    if handler is None:
        return []
    auth = authenticate(store, request.headers)
    token = auth if isinstance(auth, str) else store.first_token
    body = request.body
    if fault.serve_page is not None:
        body = with_page(body, fault.serve_page)
    try:
        return handler(store, ApiCall(request.method, request.path, request.query, token, body))
    except ApiError:
        return []
