"""The sandbox's HTTP/1.1 plumbing: sockets, bodies, the reply shapes faults need.

Why apart: what to answer (the emulated APIs, faults, the control API) is decided elsewhere;
this module only reads requests and writes replies -- whole, gzipped, chunked, dripped,
truncated, reset or not at all -- so each failure mode a client must survive is one field of
``Reply``. Standard library only.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import socket
import socketserver
import struct
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

CONTROL_PREFIX = "/_sandbox/"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
_MAX_BODY = 10 * 1024 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})


@dataclass(frozen=True)
class Reply:
    """One answer to write: the body, and how to (mis)deliver it."""

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


class Backend(Protocol):
    """What the handler asks of the sandbox: an answer per request, and connection tracking."""

    def answer_control(self, method: str, target: str, body: bytes) -> Reply: ...

    def answer_api(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Reply: ...

    def track(self, conn: socket.socket) -> None: ...

    def untrack(self, conn: socket.socket) -> None: ...


def phrase(status: int) -> str:
    """The reason phrase of ``status`` ("Error" for codes HTTP does not name)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def json_bytes(payload: Any) -> bytes:
    """UTF-8 JSON with non-ASCII kept as is, as the real API sends it."""
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def envelope(
    success: bool, message: str, data: Any, code: int, extra: Mapping[str, Any] | None = None
) -> bytes:
    """Encode the real API's response envelope."""
    return json_bytes(
        {"success": success, "message": message, "data": data, "code": code, **(extra or {})}
    )


def error_reply(status: int, message: str, data: Any = None, **headers: str) -> Reply:
    """An error envelope, as the real API answers a refused request."""
    body = envelope(False, message, [] if data is None else data, status)
    return Reply(status, body, headers=headers)


def json_reply(status: int, payload: Any) -> Reply:
    """Plain JSON (no envelope): the control API's answers."""
    return Reply(status, json_bytes(payload))


def normalise_path(path: str) -> str:
    """Like Express's non-strict routing: a trailing slash names the same route."""
    return path.rstrip("/") or "/"


def bearer_token(value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def loopback_bind_address(host: str) -> str:
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


class HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its backend and never blocks or shouts on close."""

    daemon_threads = True
    block_on_close = False  # idle keep-alive threads would otherwise hang server_close()
    # socketserver's default backlog of 5 drops the SYNs of a burst of new connections (a
    # fan-out opening its pool), and the kernel retries them only after a second.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], backend: Backend) -> None:
        self.backend = backend
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
    """HTTP/1.1 plumbing only; what to answer is decided by the backend."""

    protocol_version = "HTTP/1.1"
    server_version = "BotPenguinSandbox/1.0"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body are two writes; avoid delayed-ACK stalls

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    @property
    def _backend(self) -> Backend:
        server = self.server
        assert isinstance(server, HTTPServer)
        return server.backend

    def setup(self) -> None:
        super().setup()
        self._backend.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._backend.untrack(self.connection)

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
            self._write(self._backend.answer_control(self.command, target, body))
            return
        headers = {k.lower(): str(v) for k, v in self.headers.items()}
        self._write(self._backend.answer_api(self.command, target, headers, body))

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
            self._write(json_reply(400, {"error": "bad Content-Length"}))
            return None
        if length > _MAX_BODY:
            self.close_connection = True
            self._write(json_reply(413, {"error": "request body too large"}))
            return None
        return self.rfile.read(length)

    def _write(self, reply: Reply) -> None:
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

    def _send_body(self, body: bytes, reply: Reply) -> None:
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
