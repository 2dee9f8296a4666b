"""A BotPenguin-compatible HTTP server on loopback, with scripted faults.

Why it exists: the integration needs something real to talk to when no BotPenguin account is
at hand -- the offline demo (``botpenguin report --sandbox``), integration tests that exercise
the retry policy against genuine sockets (503s, 429 with Retry-After, dropped, truncated and
reset responses), and benchmarks of fan-out concurrency. It mimics the documented envelope
and authentication rules of ``GET /inbox/segments``, segment members (``POST /inbox/users``
with its filter body and 1-based pages) and, for fan-outs over many accounts, the partner API
(``GET /customer/list``, ``GET /ext/get-user-token``).

This module holds the server's life cycle, its scripting methods and whether a request
meets a fault or a delay; the rest lives by concern: ``transport`` (HTTP plumbing),
``routes`` (auth and routing) over ``segments_api``, ``members_api`` and ``partner_api`` (the
emulated APIs), ``control`` (the ``/_sandbox/`` API), ``faults`` and ``stats``.

Standard library only and no Prefect import, so it starts in milliseconds in any process.
It listens on loopback only, because the control endpoints under ``/_sandbox/`` (used by tests
that run the CLI in a subprocess) have no authentication.
"""

from __future__ import annotations

import copy
import socket
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from . import routes
from .api import AccountStore, Audience
from .control import CONTROL_ROUTES, answer_control
from .data import (
    CUSTOMER_PAGE_SIZE,
    MEMBER_PAGE_SIZE,
    SANDBOX_PARTNER_TOKEN,
    GeneratedAudience,
    simulated_accounts,
)
from .faults import Fault, fault_reply
from .stats import RequestRecord, Traffic
from .transport import (
    CONTROL_PREFIX,
    HTTPServer,
    Reply,
    error_reply,
    loopback_bind_address,
    normalise_path,
)

DEFAULT_PORT = 8765
"""A fixed default so ``BOTPENGUIN_BASE_URL`` in a demo ``.env`` keeps working across runs."""


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
        bind_host = loopback_bind_address(host)
        if isinstance(port, bool) or not 0 <= port <= 65535:
            raise ValueError(f"port must be 0-65535, got {port!r}")
        if latency < 0:
            raise ValueError(f"latency must be >= 0, got {latency!r}")
        if isinstance(member_page_size, bool) or member_page_size < 1:
            raise ValueError(f"member_page_size must be >= 1, got {member_page_size!r}")
        self._lock = threading.Lock()
        self._store = AccountStore.create(
            self._lock, accounts, partner_token, customers, page_size, members
        )
        self._store.member_page_size = member_page_size
        self._store.member_total = member_total
        self._latency = float(latency)
        self._faults: deque[Fault] = deque()
        self._traffic = Traffic(self._lock)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._control_routes = CONTROL_ROUTES
        self._httpd = HTTPServer((bind_host, port), self)

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
        self._traffic.cut()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SandboxServer(url={self.url!r}, accounts={len(self._store.accounts)})"

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
        return self._store.first_token

    @property
    def partner_token(self) -> str | None:
        """The token the partner API accepts, if this sandbox plays a partner."""
        return self._store.partner_token

    @property
    def customers(self) -> list[dict[str, Any]]:
        """The customer records the partner API lists, in listing order."""
        with self._lock:
            return copy.deepcopy(list(self._store.customers.values()))

    @property
    def account_tokens(self) -> list[str]:
        """Every token ``GET /inbox/segments`` accepts, in the order the accounts were given."""
        with self._lock:
            return list(self._store.accounts)

    @property
    def request_count(self) -> int:
        """API requests received since start or reset(); control endpoints not counted."""
        with self._lock:
            return self._traffic.request_count

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the API request log, oldest first."""
        with self._lock:
            return self._traffic.records()

    @property
    def max_in_flight(self) -> int:
        """Peak number of API requests handled at once, to check a client's concurrency cap."""
        with self._lock:
            return self._traffic.max_in_flight

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted since start or reset(), to check a client reuses them."""
        with self._lock:
            return self._traffic.connections_opened

    @property
    def latency(self) -> float:
        with self._lock:
            return self._latency

    @property
    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def statistics(self) -> dict[str, Any]:
        """What ``GET /_sandbox/stats`` answers: counts, pending faults and the request log."""
        with self._lock:
            return {
                "requests": self._traffic.request_count,
                "max_in_flight": self._traffic.max_in_flight,
                "connections_opened": self._traffic.connections_opened,
                "in_flight": self._traffic.in_flight,
                "pending_faults": len(self._faults),
                "log": self._traffic.log(),
            }

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
            self._traffic.clear()

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
            self._store.accounts[self._store.first_token if token is None else token] = copied

    def set_members(self, audience: Audience, *, token: str | None = None) -> None:
        """Replace one account's contacts (default: the first token's)."""
        with self._lock:
            self._store.members[self._store.first_token if token is None else token] = audience

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
            audience = self._store.members.get(self._store.first_token if token is None else token)
            if audience is None:
                raise KeyError("that account has no contacts in this sandbox")
            audience.move(contact_id, source, target)

    def segment_members(self, segment_id: str, *, token: str | None = None) -> list[str]:
        """The contact ids the sandbox lists for ``segment_id``, in listing order."""
        with self._lock:
            audience = self._store.members.get(self._store.first_token if token is None else token)
            return [] if audience is None else audience.members(segment_id)

    def revoke(self, token: str) -> None:
        """Refuse ``token`` from now on, as for a revoked token or a closed account.

        A customer with that token stays listed by the partner API, which still hands out the
        dead token, so fan-outs meet a broken account among working ones.
        """
        with self._lock:
            if token not in self._store.accounts:
                raise KeyError("revoke() got a token this sandbox does not know")
            del self._store.accounts[token]

    # -- request handling (called from handler threads) ------------------------------------

    def answer_control(self, method: str, target: str, body: bytes) -> Reply:
        """A ``/_sandbox/`` request: not counted, never faulted."""
        return answer_control(self, method, target, body)

    def answer_api(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        """An API request, logged before its answer is written (a client holding the answer
        must find it in the log); a bug in a route is a 500, not a dead connection."""
        entry = self._traffic.begin(method, target, "authorization" in headers)
        reply: Reply | None = None
        try:
            reply = self._respond(method, target, headers, body)
        except Exception:
            reply = error_reply(500, "Internal Server Error")
        finally:
            self._traffic.end(entry, None if reply is None or reply.drop else reply.status)
        return reply

    def track(self, conn: socket.socket) -> None:
        self._traffic.track(conn)

    def untrack(self, conn: socket.socket) -> None:
        self._traffic.untrack(conn)

    def _respond(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes = b""
    ) -> Reply:
        """Answer one API request: next fault if any, else the emulated API."""
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            delay = self._latency + (fault.latency if fault is not None else 0.0)
        if delay > 0:
            self._stopping.wait(delay)
        split = urlsplit(target)
        query = parse_qs(split.query, keep_blank_values=True)
        request = routes.Incoming(method, normalise_path(split.path), query, headers, body)
        if fault is not None:
            store = self._store
            return fault_reply(fault, lambda f: routes.real_data(store, request, f))
        return routes.answer(self._store, request)


__all__ = ["CONTROL_PREFIX", "DEFAULT_PORT", "RequestRecord", "SandboxServer"]
