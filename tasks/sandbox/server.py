"""A BotPenguin-compatible HTTP server on loopback, with scripted faults.

Why it exists: the integration needs something real to talk to when no BotPenguin account is
at hand -- the offline demo (``botpenguin report --sandbox``), integration tests that exercise
the retry policy against genuine sockets (503s, 429 with Retry-After, dropped, truncated and
reset responses), and benchmarks of fan-out concurrency. It mimics the documented envelope
and authentication rules of ``GET /inbox/segments``, segment members (``POST /inbox/users``
with its filter body and 1-based pages) and, for fan-outs over many accounts, the partner API
(``GET /customer/list``, ``GET /ext/get-user-token``).

Standard library only and no Prefect import, so it starts in milliseconds in any process.
It listens on loopback only, because the control endpoints under ``/_sandbox/`` (used by tests
that run the CLI in a subprocess) have no authentication.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import ipaddress
import json
import re
import socket
import socketserver
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from .data import (
    CUSTOMER_PAGE_SIZE,
    INVALID_OBJECT_ID_MESSAGE,
    MEMBER_PAGE_SIZE,
    SAMPLE_SEGMENTS,
    SANDBOX_PARTNER_TOKEN,
    SANDBOX_TOKEN,
    ContactBook,
    GeneratedAudience,
    simulated_accounts,
)
from .faults import Fault

CONTROL_PREFIX = "/_sandbox/"
DEFAULT_PORT = 8765
"""A fixed default so ``BOTPENGUIN_BASE_URL`` in a demo ``.env`` keeps working across runs."""

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
_MAX_BODY = 10 * 1024 * 1024
_HEX24 = re.compile(r"[0-9a-fA-F]{24}")
_NO_BODY_STATUSES = frozenset({204, 304})
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

Audience = ContactBook | GeneratedAudience
"""Where one account's contacts come from: a stored book, or contacts made on request."""


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _envelope(
    success: bool, message: str, data: Any, code: int, extra: Mapping[str, Any] | None = None
) -> bytes:
    """Encode the real API's response envelope (UTF-8, non-ASCII kept as is)."""
    payload = {"success": success, "message": message, "data": data, "code": code, **(extra or {})}
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class _Paged:
    """A route's data plus envelope fields beside ``data`` (an undocumented ``total``)."""

    data: Any
    extra: Mapping[str, Any]


def _json(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class RequestRecord:
    """What the sandbox remembers about one API request: never header values or tokens."""

    method: str
    path: str
    at: float
    status: int | None
    had_auth: bool


@dataclass
class _Entry:
    """Mutable twin of RequestRecord: the status is only known once the answer is sent."""

    method: str
    path: str
    at: float
    had_auth: bool
    status: int | None = None

    def freeze(self) -> RequestRecord:
        return RequestRecord(self.method, self.path, self.at, self.status, self.had_auth)


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = JSON_CONTENT_TYPE
    headers: Mapping[str, str] = field(default_factory=dict)
    drop: bool = False
    truncate: bool = False
    reset: bool = False
    gzip: bool = False
    chunked: bool = False
    drip: float = 0.0


@dataclass(frozen=True)
class _ApiCall:
    """An authenticated API request, as handed to a route handler."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    token: str
    body: bytes = b""


class _ApiError(Exception):
    """Raised by a route handler to answer with an error envelope."""

    def __init__(self, status: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.data: Any = [] if data is None else data


_RouteHandler = Callable[[_ApiCall], Any]


def _error(status: int, message: str, data: Any = None, **headers: str) -> _Reply:
    body = _envelope(False, message, [] if data is None else data, status)
    return _Reply(status, body, headers=headers)


def _control_reply(status: int, payload: Any) -> _Reply:
    return _Reply(status, _json(payload))


def _loopback_bind_address(host: str) -> str:
    """Return the address to bind, or raise ValueError for anything that is not loopback."""
    if host.strip().lower() == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ValueError(
            f"refusing to listen on {host!r}: the sandbox only binds to loopback "
            "(127.0.0.1, ::1 or localhost)"
        ) from None
    if not address.is_loopback:
        raise ValueError(
            f"refusing to listen on {host}: the sandbox only binds to loopback "
            "(127.0.0.1, ::1 or localhost) because its control endpoints have no auth"
        )
    return str(address)


class SandboxServer:
    """A BotPenguin look-alike on loopback that tests, demos and benchmarks can script.

    Thread-safe: requests are served on a thread each, and faults, stats and data may be
    changed from any thread while it runs.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        accounts: Mapping[str, list[dict[str, Any]]] | None = None,
        latency: float = 0.0,
        partner_token: str | None = None,
        customers: Mapping[str, Mapping[str, Any]] | None = None,
        page_size: int = CUSTOMER_PAGE_SIZE,
        members: Mapping[str, Audience] | None = None,
        member_page_size: int = MEMBER_PAGE_SIZE,
        member_total: bool = False,
    ) -> None:
        """``members`` maps an account token to its contacts (``POST /inbox/users``); by
        default the sample account has ``ContactBook.sample()`` and other accounts none.
        ``member_page_size`` contacts make a page; ``member_total`` adds an (undocumented)
        ``total`` beside ``data``, so clients can notice a listing that ends early.

        ``customers`` maps an account token to its customer record (needs a string ``_id``)
        for the partner API, which answers only ``partner_token``; a customer whose token is
        not in ``accounts`` is a dead account: listed, but its token is refused.
        """
        bind_host = _loopback_bind_address(host)
        if isinstance(port, bool) or not 0 <= port <= 65535:
            raise ValueError(f"port must be 0-65535, got {port!r}")
        if latency < 0:
            raise ValueError(f"latency must be >= 0, got {latency!r}")
        if accounts is None:
            accounts = {SANDBOX_TOKEN: SAMPLE_SEGMENTS}
            if members is None:
                members = {SANDBOX_TOKEN: ContactBook.sample()}
        if isinstance(member_page_size, bool) or member_page_size < 1:
            raise ValueError(f"member_page_size must be >= 1, got {member_page_size!r}")
        self._members: dict[str, Audience] = dict(members or {})
        self._member_page_size = member_page_size
        self._member_total = member_total
        if not accounts:
            raise ValueError("accounts must hold at least one token")
        self._lock = threading.Lock()
        # Deep copies: set_segments or a caller's later edits must not leak either way.
        self._accounts: dict[str, list[dict[str, Any]]] = {
            token: copy.deepcopy(list(segments)) for token, segments in accounts.items()
        }
        self._token = next(iter(self._accounts))
        if isinstance(page_size, bool) or page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size!r}")
        self._partner_token = partner_token
        self._page_size = page_size
        self._customers: dict[str, dict[str, Any]] = {}
        self._token_by_customer: dict[str, str] = {}
        for token, customer in (customers or {}).items():
            customer_id = customer.get("_id")
            if not isinstance(customer_id, str) or not customer_id:
                raise ValueError(f"customer record for a token lacks a string '_id': {customer!r}")
            self._customers[token] = copy.deepcopy(dict(customer))
            self._token_by_customer[customer_id] = token
        self._latency = float(latency)
        self._faults: deque[Fault] = deque()
        self._entries: list[_Entry] = []
        self._request_count = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._connections: set[socket.socket] = set()
        self._connections_opened = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        # Path -> method -> handler. New endpoints (e.g. the partner API) are one entry each;
        # the handler receives an already authenticated call and returns the envelope's data.
        self._api_routes: dict[str, dict[str, _RouteHandler]] = {
            "/inbox/segments": {"GET": self._get_segments},
            "/customer/list": {"GET": self._list_customers},
            "/ext/get-user-token": {"GET": self._get_user_token},
            "/inbox/users": {"POST": self._list_members},
        }
        self._control_routes: dict[str, dict[str, Callable[[bytes], _Reply]]] = {
            "/_sandbox/faults": {"POST": self._control_faults},
            "/_sandbox/stats": {"GET": self._control_stats},
            "/_sandbox/reset": {"POST": self._control_reset},
            "/_sandbox/segments": {"POST": self._control_segments},
            "/_sandbox/members": {"POST": self._control_members},
        }
        self._httpd = _HTTPServer((bind_host, port), self)

    @classmethod
    def simulated(
        cls,
        count: int,
        *,
        segments_per_account: int | None = None,
        latency: float = 0.0,
        partner_token: str = SANDBOX_PARTNER_TOKEN,
        page_size: int = CUSTOMER_PAGE_SIZE,
        host: str = "127.0.0.1",
        port: int = 0,
        contacts_per_segment: int = 0,
        member_page_size: int = MEMBER_PAGE_SIZE,
    ) -> SandboxServer:
        """A partner with ``count`` customer accounts (see ``simulated_accounts``).

        ``contacts_per_segment`` gives every segment that many invented members, generated
        page by page (``GeneratedAudience``), for benchmarks of large audiences.
        """
        accounts, customers = simulated_accounts(count, segments_per_account=segments_per_account)
        members: dict[str, Audience] = {
            token: GeneratedAudience([s["_id"] for s in segments], contacts_per_segment)
            for token, segments in accounts.items()
        }
        return cls(
            host,
            port,
            accounts=accounts,
            latency=latency,
            partner_token=partner_token,
            customers=customers,
            page_size=page_size,
            members=members,
            member_page_size=member_page_size,
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve in a daemon thread, so a forgotten stop() never blocks interpreter exit."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this sandbox was stopped; create a new SandboxServer")
            if self._thread is not None:
                return self
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"botpenguin-sandbox:{self.port}",
                daemon=True,
            )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut idle keep-alive connections, so clients see a dead server."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._stopping.set()
        if thread is not None:
            self._httpd.shutdown()
            thread.join(timeout=5)
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SandboxServer(url={self.url!r}, accounts={len(self._accounts)})"

    # -- public properties -----------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._httpd.server_address[0])
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def token(self) -> str:
        """The first accepted token (the one demos and tests usually want)."""
        return self._token

    @property
    def partner_token(self) -> str | None:
        """The token the partner API accepts, if this sandbox plays a partner."""
        return self._partner_token

    @property
    def customers(self) -> list[dict[str, Any]]:
        """The customer records the partner API lists, in listing order."""
        with self._lock:
            return copy.deepcopy(list(self._customers.values()))

    @property
    def account_tokens(self) -> list[str]:
        """Every token ``GET /inbox/segments`` accepts, in the order the accounts were given."""
        with self._lock:
            return list(self._accounts)

    @property
    def request_count(self) -> int:
        """API requests received since start or reset(); control endpoints not counted."""
        with self._lock:
            return self._request_count

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the API request log, oldest first."""
        with self._lock:
            return [entry.freeze() for entry in self._entries]

    @property
    def max_in_flight(self) -> int:
        """Peak number of API requests handled at once, to check a client's concurrency cap."""
        with self._lock:
            return self._max_in_flight

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted since start or reset(), to check a client reuses them."""
        with self._lock:
            return self._connections_opened

    @property
    def latency(self) -> float:
        with self._lock:
            return self._latency

    @property
    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    # -- scripting ---------------------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each API request consumes the next one, then answers normally."""
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"inject() takes Fault objects, got {type(fault).__name__}")
        with self._lock:
            self._faults.extend(faults)

    def reset(self) -> None:
        """Forget queued faults and statistics (not data or latency) between test steps."""
        with self._lock:
            self._faults.clear()
            self._entries.clear()
            self._request_count = 0
            self._max_in_flight = self._in_flight
            self._connections_opened = 0

    def set_latency(self, seconds: float) -> None:
        """Delay every API request by ``seconds`` from now on (faults add their own)."""
        if seconds < 0:
            raise ValueError(f"latency must be >= 0, got {seconds!r}")
        with self._lock:
            self._latency = float(seconds)

    def set_segments(self, segments: list[dict[str, Any]], *, token: str | None = None) -> None:
        """Replace one account's segments (default: the first token's), e.g. to test diffs.

        An unknown ``token`` adds a new account.
        """
        copied = copy.deepcopy(list(segments))
        with self._lock:
            self._accounts[self._token if token is None else token] = copied

    def set_members(self, audience: Audience, *, token: str | None = None) -> None:
        """Replace one account's contacts (default: the first token's)."""
        with self._lock:
            self._members[self._token if token is None else token] = audience

    def move_contact(
        self,
        contact_id: str,
        *,
        source: str | None = None,
        target: str | None = None,
        token: str | None = None,
    ) -> None:
        """Move a contact out of segment ``source`` and/or into ``target`` (for watch tests)."""
        with self._lock:
            audience = self._members.get(self._token if token is None else token)
            if audience is None:
                raise KeyError("that account has no contacts in this sandbox")
            audience.move(contact_id, source, target)

    def segment_members(self, segment_id: str, *, token: str | None = None) -> list[str]:
        """The contact ids the sandbox lists for ``segment_id``, in listing order."""
        with self._lock:
            audience = self._members.get(self._token if token is None else token)
            return [] if audience is None else audience.members(segment_id)

    def revoke(self, token: str) -> None:
        """Refuse ``token`` from now on, as for a revoked token or a closed account.

        A customer with that token stays listed by the partner API, which still hands out the
        dead token, so fan-outs meet a broken account among working ones.
        """
        with self._lock:
            if token not in self._accounts:
                raise KeyError("revoke() got a token this sandbox does not know")
            del self._accounts[token]

    # -- request handling (called from handler threads) ------------------------------------

    def _begin(self, method: str, path: str, had_auth: bool) -> _Entry:
        entry = _Entry(method=method, path=path, at=time.monotonic(), had_auth=had_auth)
        with self._lock:
            self._entries.append(entry)
            self._request_count += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        return entry

    def _end(self, entry: _Entry, status: int | None) -> None:
        with self._lock:
            entry.status = status
            self._in_flight -= 1

    def _respond(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes = b""
    ) -> _Reply:
        """Answer one API request: next fault if any, else the emulated API."""
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            delay = self._latency + (fault.latency if fault is not None else 0.0)
        if delay > 0:
            self._stopping.wait(delay)
        split = urlsplit(target)
        path = _normalise_path(split.path)
        query = parse_qs(split.query, keep_blank_values=True)
        if fault is not None:
            return self._fault_reply(fault, method, path, query, headers, body)
        route = self._api_routes.get(path)
        if route is None:
            return _error(404, f"Cannot {method} {path}")
        handler = route.get(method)
        if handler is None:
            return _error(405, "Method Not Allowed", Allow=", ".join(sorted(route)))
        auth = self._authenticate(headers)
        if isinstance(auth, _Reply):
            return auth
        try:
            data = handler(_ApiCall(method, path, query, auth, body))
        except _ApiError as exc:
            return _error(exc.status, exc.message, exc.data)
        if isinstance(data, _Paged):
            return _Reply(200, _envelope(True, "", data.data, 200, data.extra))
        return _Reply(200, _envelope(True, "", data, 200))

    def _authenticate(self, headers: Mapping[str, str]) -> str | _Reply:
        """Apply the real API's auth rules; return the accepted token or the error reply."""
        token = _bearer_token(headers.get("authorization"))
        authtype = headers.get("authtype")
        if token is None or authtype is None or authtype.strip() != "Key":
            return _error(401, "Unauthorized")
        with self._lock:
            known = token in self._accounts or token == self._partner_token
        if known:
            return token
        if _HEX24.fullmatch(token):
            return _error(401, "Invalid token")
        return _error(400, INVALID_OBJECT_ID_MESSAGE)

    def _fault_reply(
        self,
        fault: Fault,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        request_body: bytes = b"",
    ) -> _Reply:
        if fault.drop:
            return _Reply(0, drop=True)
        body: bytes
        if fault.body is None:
            if 200 <= fault.status < 300:
                data = self._real_data(method, path, query, headers, request_body, fault)
                extra: Mapping[str, Any] = {}
                if isinstance(data, _Paged):
                    data, extra = data.data, data.extra
                if fault.empty_page:
                    data = []
                body = _envelope(True, "", data, fault.status, extra)
            else:
                body = _envelope(False, _phrase(fault.status), [], fault.status)
        elif isinstance(fault.body, bytes):
            body = fault.body
        elif isinstance(fault.body, str):
            body = fault.body.encode("utf-8")
        else:
            body = _json(fault.body)
        return _Reply(
            fault.status,
            body,
            fault.content_type,
            fault.headers,
            truncate=fault.truncate,
            reset=fault.reset,
            gzip=fault.gzip,
            chunked=fault.chunked,
            drip=fault.drip,
        )

    def _real_data(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        fault: Fault,
    ) -> Any:
        """Data for a 2xx fault: the caller's account if its token is valid, else the first.

        ``fault.serve_page`` answers a paged request with that page instead of the one asked.
        """
        handler = self._api_routes.get(path, {}).get(method)
        if handler is None:
            return []
        auth = self._authenticate(headers)
        token = auth if isinstance(auth, str) else self._token
        if fault.serve_page is not None:
            body = _with_page(body, fault.serve_page)
        try:
            return handler(_ApiCall(method, path, query, token, body))
        except _ApiError:
            return []

    # -- API routes --------------------------------------------------------------------------

    def _get_segments(self, call: _ApiCall) -> list[dict[str, Any]]:
        with self._lock:
            # No copy: stored lists are replaced (set_segments), never changed in place, and
            # the answer is only read to encode it. Copying 20,000 segments per request would
            # make benchmarks measure the sandbox instead of the client.
            # A partner token without an account of its own sees no segments.
            return self._accounts.get(call.token, [])

    def _require_partner(self, call: _ApiCall) -> None:
        if self._partner_token is None or call.token != self._partner_token:
            raise _ApiError(403, "This API is available to partner accounts only")

    def _list_customers(self, call: _ApiCall) -> list[dict[str, Any]]:
        """``GET /customer/list?page=N``: 1-based pages; a page past the end is empty."""
        self._require_partner(call)
        raw = (call.query.get("page") or ["1"])[0]
        if not raw.isdigit() or int(raw) < 1:
            raise _ApiError(400, "page must be a positive integer")
        page = int(raw)
        with self._lock:
            listed = list(self._customers.values())
            size = self._page_size
        return copy.deepcopy(listed[(page - 1) * size : page * size])

    def _get_user_token(self, call: _ApiCall) -> dict[str, Any]:
        """``GET /ext/get-user-token?userId=<customer _id>``: the customer's permanent token."""
        self._require_partner(call)
        user_id = (call.query.get("userId") or [""])[0].strip()
        if not user_id:
            raise _ApiError(400, "userId is required")
        with self._lock:
            token = self._token_by_customer.get(user_id)
        if token is None:
            raise _ApiError(404, "User not found")
        return {"permanentToken": {"key": token}}

    def _list_members(self, call: _ApiCall) -> _Paged | list[dict[str, Any]]:
        """``POST /inbox/users``: contacts in any of ``segments`` (all if empty), 1-based pages.

        Like the help page says, every filter field must be present (empty when unused).
        """
        try:
            payload = json.loads(call.body or b"null")
        except ValueError:
            raise _ApiError(400, "Request body must be JSON") from None
        if not isinstance(payload, dict):
            raise _ApiError(400, "Request body must be a JSON object")
        missing = [name for name in _REQUIRED_MEMBER_FILTERS if name not in payload]
        if missing:
            raise _ApiError(400, f"{missing[0]} is required", [f"{m} is required" for m in missing])
        segments = payload["segments"]
        if not isinstance(segments, list) or not all(isinstance(s, str) for s in segments):
            raise _ApiError(400, "segments must be an array of segment ids")
        page = payload.get("page", 1)
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise _ApiError(400, "page must be a positive integer")
        with self._lock:
            audience = self._members.get(call.token)
            size = self._member_page_size
            if audience is None:
                contacts: list[dict[str, Any]] = []
                total = 0
            else:
                contacts = audience.page(segments, (page - 1) * size, page * size)
                total = audience.count(segments) if self._member_total else 0
        return _Paged(contacts, {"total": total}) if self._member_total else contacts

    # -- control routes (no auth; loopback only) --------------------------------------------

    def _control(self, method: str, target: str, body: bytes) -> _Reply:
        path = _normalise_path(urlsplit(target).path)
        route = self._control_routes.get(path)
        if route is None:
            return _control_reply(404, {"error": f"unknown control endpoint {path}"})
        handler = route.get(method)
        if handler is None:
            return _control_reply(405, {"error": f"{path} accepts {', '.join(sorted(route))}"})
        try:
            return handler(body)
        except (ValueError, TypeError) as exc:
            return _control_reply(400, {"error": str(exc)})

    def _control_faults(self, body: bytes) -> _Reply:
        payload = json.loads(body or b"[]")
        items = payload if isinstance(payload, list) else [payload]
        faults = [Fault.from_dict(item) for item in items]
        self.inject(*faults)
        with self._lock:
            pending = len(self._faults)
        return _control_reply(200, {"queued": len(faults), "pending": pending})

    def _control_stats(self, body: bytes) -> _Reply:
        with self._lock:
            stats = {
                "requests": self._request_count,
                "max_in_flight": self._max_in_flight,
                "connections_opened": self._connections_opened,
                "in_flight": self._in_flight,
                "pending_faults": len(self._faults),
                "log": [
                    {
                        "method": e.method,
                        "path": e.path,
                        "status": e.status,
                        "at": e.at,
                        "had_auth": e.had_auth,
                    }
                    for e in self._entries
                ],
            }
        return _control_reply(200, stats)

    def _control_reset(self, body: bytes) -> _Reply:
        self.reset()
        return _control_reply(200, {"reset": True})

    def _control_segments(self, body: bytes) -> _Reply:
        payload = json.loads(body or b"{}")
        if not isinstance(payload, dict) or not isinstance(payload.get("segments"), list):
            raise ValueError('expected {"segments": [...], "token": optional}')
        token = payload.get("token")
        if token is not None and not isinstance(token, str):
            raise TypeError("'token' must be a string")
        self.set_segments(payload["segments"], token=token)
        return _control_reply(200, {"segments": len(payload["segments"])})

    def _control_members(self, body: bytes) -> _Reply:
        """``{"contact_id", "from": optional, "to": optional, "token": optional}``: move one."""
        payload = json.loads(body or b"{}")
        if not isinstance(payload, dict) or not isinstance(payload.get("contact_id"), str):
            raise ValueError('expected {"contact_id": ..., "from": ..., "to": ..., "token": ...}')
        for key in ("from", "to", "token"):
            if payload.get(key) is not None and not isinstance(payload[key], str):
                raise TypeError(f"{key!r} must be a string")
        try:
            self.move_contact(
                payload["contact_id"],
                source=payload.get("from"),
                target=payload.get("to"),
                token=payload.get("token"),
            )
        except KeyError as exc:
            return _control_reply(404, {"error": str(exc.args[0])})
        return _control_reply(200, {"moved": payload["contact_id"]})

    # -- connection tracking (so stop() can cut keep-alive connections) ---------------------

    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)
            self._connections_opened += 1

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)


def _with_page(body: bytes, page: int) -> bytes:
    """A JSON request body asking for ``page`` instead (unchanged if it is not an object)."""
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        return body
    if not isinstance(payload, dict):
        return body
    return _json({**payload, "page": page})


def _normalise_path(path: str) -> str:
    """Like Express's non-strict routing: a trailing slash names the same route."""
    return path.rstrip("/") or "/"


def _bearer_token(value: str | None) -> str | None:
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its SandboxServer and never blocks or shouts on close."""

    daemon_threads = True
    block_on_close = False  # idle keep-alive threads would otherwise hang server_close()
    # socketserver's default backlog of 5 drops the SYNs of a burst of new connections (a
    # fan-out opening its pool), and the kernel retries them only after a second.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a DNS lookup that can stall for
        # seconds on some machines; the name is unused here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (or stop() cutting them) is normal here, not worth a traceback.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 plumbing only; what to answer is decided by SandboxServer."""

    protocol_version = "HTTP/1.1"
    server_version = "BotPenguinSandbox/1.0"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body are two writes; avoid delayed-ACK stalls

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    @property
    def _sandbox(self) -> SandboxServer:
        server = self.server
        assert isinstance(server, _HTTPServer)
        return server.sandbox

    def setup(self) -> None:
        super().setup()
        self._sandbox._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._sandbox._untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request stderr logging: tests and the CLI stay quiet."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            return
        target = self.path
        path = urlsplit(target).path
        if path.startswith(CONTROL_PREFIX) or path == CONTROL_PREFIX.rstrip("/"):
            self._write(self._sandbox._control(self.command, target, body))
            return
        headers = {k.lower(): str(v) for k, v in self.headers.items()}
        sandbox = self._sandbox
        entry = sandbox._begin(self.command, target, "authorization" in headers)
        reply: _Reply | None = None
        try:
            reply = sandbox._respond(self.command, target, headers, body)
        except Exception:
            reply = _error(500, "Internal Server Error")
        finally:
            # Recorded before writing: a client holding the answer must find it in the log.
            sandbox._end(entry, None if reply is None or reply.drop else reply.status)
        self._write(reply)

    def _read_body(self) -> bytes | None:
        """Consume the request body so the next request on this connection parses cleanly."""
        if "chunked" in str(self.headers.get("Transfer-Encoding", "")).lower():
            self.close_connection = True  # not worth decoding; answer, then hang up
            return b""
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
            if length < 0:
                raise ValueError(raw)
        except ValueError:
            self.close_connection = True
            self._write(_control_reply(400, {"error": "bad Content-Length"}))
            return None
        if length > _MAX_BODY:
            self.close_connection = True
            self._write(_control_reply(413, {"error": "request body too large"}))
            return None
        return self.rfile.read(length)

    def _write(self, reply: _Reply) -> None:
        if reply.drop:
            self.close_connection = True
            return
        body = b"" if reply.status in _NO_BODY_STATUSES else reply.body
        if reply.gzip:
            body = gzip.compress(body)
        try:
            self.send_response(reply.status)
            if reply.gzip:
                self.send_header("Content-Encoding", "gzip")
            if not any(name.lower() == "content-type" for name in reply.headers):
                self.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.truncate or reply.reset:
                # Promise the whole body, deliver half, hang up: a mid-transfer failure.
                self.send_header("Content-Length", str(max(len(body), 1)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
                if reply.reset:
                    self._abort()
                return
            if reply.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self._send_body(body, reply)
        except OSError:
            self.close_connection = True  # the client went away; nothing left to tell it

    def _send_body(self, body: bytes, reply: _Reply) -> None:
        """The body at once, in 1 KiB chunks, or (dripping) a byte at a time."""
        step = 1 if reply.drip else 1024 if reply.chunked else max(len(body), 1)
        for start in range(0, len(body), step):
            if reply.drip:
                time.sleep(reply.drip)
            piece = body[start : start + step]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if reply.chunked else piece)
            self.wfile.flush()
        if reply.chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _abort(self) -> None:
        """Close with SO_LINGER 0, so the kernel sends RST instead of an orderly FIN."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # drop the reader's reference, or close() would not close the fd
        self.connection.close()
