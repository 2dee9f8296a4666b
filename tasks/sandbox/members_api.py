"""The emulated ``POST /inbox/users``: a segment's contacts, with its filter body and pages."""

from __future__ import annotations

import json
from typing import Any

from .api import AccountStore, ApiCall, ApiError, Paged, Routes

# Filter fields BotPenguin's help page says every ``POST /inbox/users`` body must carry.
_REQUIRED_MEMBER_FILTERS = (
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
)


def list_members(store: AccountStore, call: ApiCall) -> Paged | list[dict[str, Any]]:
    """Contacts in any of ``segments`` (all if empty), 1-based pages.

    Like the help page says, every filter field must be present (empty when unused).
    """
    try:
        payload = json.loads(call.body or b"null")
    except ValueError:
        raise ApiError(400, "Request body must be JSON") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "Request body must be a JSON object")
    missing = [name for name in _REQUIRED_MEMBER_FILTERS if name not in payload]
    if missing:
        raise ApiError(400, f"{missing[0]} is required", [f"{m} is required" for m in missing])
    segments = payload["segments"]
    if not isinstance(segments, list) or not all(isinstance(s, str) for s in segments):
        raise ApiError(400, "segments must be an array of segment ids")
    page = payload.get("page", 1)
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ApiError(400, "page must be a positive integer")
    with store.lock:
        audience = store.members.get(call.token)
        size = store.member_page_size
        if audience is None:
            contacts: list[dict[str, Any]] = []
            total = 0
        else:
            contacts = audience.page(segments, (page - 1) * size, page * size)
            total = audience.count(segments) if store.member_total else 0
    return Paged(contacts, {"total": total}) if store.member_total else contacts


ROUTES: Routes = {"/inbox/users": {"POST": list_members}}
