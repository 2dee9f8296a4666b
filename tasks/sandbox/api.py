"""What the emulated APIs share: the accounts they read, the call they get, how they refuse.

Why apart: each emulated API (segments, members, partner) is a table of routes over one
``AccountStore``, so a new endpoint is one function and one table entry, and none of them
knows about sockets, faults or statistics. Standard library only.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .data import SAMPLE_SEGMENTS, SANDBOX_TOKEN, ContactBook, GeneratedAudience

Audience = ContactBook | GeneratedAudience
"""Where one account's contacts come from: a stored book, or contacts made on request."""


@dataclass
class AccountStore:
    """The accounts the sandbox plays, guarded by the server's one lock."""

    lock: threading.Lock
    accounts: dict[str, list[dict[str, Any]]]
    first_token: str
    partner_token: str | None = None
    page_size: int = 1
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_by_customer: dict[str, str] = field(default_factory=dict)
    members: dict[str, Audience] = field(default_factory=dict)
    member_page_size: int = 1
    member_total: bool = False

    @classmethod
    def create(
        cls,
        lock: threading.Lock,
        accounts: Mapping[str, list[dict[str, Any]]] | None,
        partner_token: str | None,
        customers: Mapping[str, Mapping[str, Any]] | None,
        page_size: int,
        members: Mapping[str, Audience] | None,
    ) -> AccountStore:
        """Check and copy what ``SandboxServer`` was given; no accounts: the sample one."""
        if accounts is None:
            accounts = {SANDBOX_TOKEN: SAMPLE_SEGMENTS}
            if members is None:
                members = {SANDBOX_TOKEN: ContactBook.sample()}
        if not accounts:
            raise ValueError("accounts must hold at least one token")
        if isinstance(page_size, bool) or page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size!r}")
        # Deep copies: set_segments or a caller's later edits must not leak either way.
        copied = {token: copy.deepcopy(list(segments)) for token, segments in accounts.items()}
        store = cls(
            lock=lock,
            accounts=copied,
            first_token=next(iter(copied)),
            partner_token=partner_token,
            page_size=page_size,
            members=dict(members or {}),
        )
        for token, customer in (customers or {}).items():
            customer_id = customer.get("_id")
            if not isinstance(customer_id, str) or not customer_id:
                raise ValueError(f"customer record for a token lacks a string '_id': {customer!r}")
            store.customers[token] = copy.deepcopy(dict(customer))
            store.token_by_customer[customer_id] = token
        return store


@dataclass(frozen=True)
class ApiCall:
    """An authenticated API request, as handed to a route handler."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    token: str
    body: bytes = b""


@dataclass(frozen=True)
class Paged:
    """A route's data plus envelope fields beside ``data`` (an undocumented ``total``)."""

    data: Any
    extra: Mapping[str, Any]


class ApiError(Exception):
    """Raised by a route handler to answer with an error envelope."""

    def __init__(self, status: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.data: Any = [] if data is None else data


Route = Callable[[AccountStore, ApiCall], Any]
"""A handler: reads the store for an already authenticated call, returns the envelope's data."""

Routes = Mapping[str, Mapping[str, Route]]
"""Path -> method -> handler."""
