"""``Fault``: one scripted answer the sandbox gives instead of the normal one, and its reply."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .api import Paged
from .transport import Reply, envelope, json_bytes, phrase

_FORBIDDEN_FAULT_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


@dataclass(frozen=True)
class Fault:
    """One scripted answer to the next API request, so tests can provoke each failure mode.

    ``body=None`` means the normal envelope for ``status``: the real data for 2xx, an error
    envelope otherwise. ``drop`` closes the connection without answering; ``truncate`` sends
    headers promising more body than is sent, then closes; ``reset`` sends the headers and
    half the body, then aborts the connection with a TCP RST (a reset mid-body). ``gzip``
    compresses the body (``Content-Encoding: gzip``); ``chunked`` sends it with
    ``Transfer-Encoding: chunked``; ``drip`` waits that many seconds before each byte, the
    server that answers a byte at a time.

    For paged endpoints (``POST /inbox/users``): ``serve_page`` answers with that page's data
    instead of the page asked for (``serve_page=1`` on page 2 is a repeated page), and
    ``empty_page`` answers with no data but the normal envelope (an empty page mid-listing).
    Faults are consumed one per request, so "503 on page 3" is ``Fault(), Fault(),
    Fault.status_code(503)``.
    """

    status: int = 200
    body: bytes | str | dict[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    latency: float = 0.0
    drop: bool = False
    truncate: bool = False
    content_type: str = "application/json"
    reset: bool = False
    gzip: bool = False
    chunked: bool = False
    drip: float = 0.0
    serve_page: int | None = None
    empty_page: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not 200 <= self.status <= 599:
            raise ValueError(f"Fault status must be 200-599, got {self.status!r}")
        if self.latency < 0:
            raise ValueError(f"Fault latency must be >= 0, got {self.latency!r}")
        if self.drop and self.truncate:
            raise ValueError("a Fault can drop or truncate, not both")
        if self.reset and (self.drop or self.truncate):
            raise ValueError("a Fault that resets cannot also drop or truncate")
        if self.drip < 0:
            raise ValueError(f"Fault drip must be >= 0, got {self.drip!r}")
        if (self.chunked or self.drip) and (self.drop or self.truncate or self.reset):
            raise ValueError("a chunked or dripping Fault cannot also drop, truncate or reset")
        if self.serve_page is not None and (
            isinstance(self.serve_page, bool) or self.serve_page < 1
        ):
            raise ValueError(f"Fault serve_page must be >= 1, got {self.serve_page!r}")
        for name, value in self.headers.items():
            if any(c in f"{name}{value}" for c in "\r\n\0"):
                raise ValueError(f"Fault header {name!r} contains a line break")
            if name.lower() in _FORBIDDEN_FAULT_HEADERS:
                raise ValueError(f"Fault header {name!r} is managed by the sandbox")
        # A read-only copy: a caller mutating its dict later must not change a queued fault.
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))

    @classmethod
    def status_code(cls, status: int) -> Fault:
        """Answer with ``status`` and the normal envelope for it (e.g. 503)."""
        return cls(status=status)

    @classmethod
    def retry_after(cls, status: int = 429, seconds: str | float = "1") -> Fault:
        """Answer ``status`` with a ``Retry-After`` header (seconds or an HTTP date)."""
        return cls(status=status, headers={"Retry-After": str(seconds)})

    @classmethod
    def malformed(
        cls,
        body: bytes | str = b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        *,
        status: int = 200,
        content_type: str = "text/html",
    ) -> Fault:
        """Answer with something that is not the JSON envelope (a proxy's HTML page, say)."""
        return cls(status=status, body=body, content_type=content_type)

    @classmethod
    def dropped(cls) -> Fault:
        """Close the connection without sending any response."""
        return cls(drop=True)

    @classmethod
    def truncated(cls, status: int = 200) -> Fault:
        """Send half of the body after promising all of it, then close the connection."""
        return cls(status=status, truncate=True)

    @classmethod
    def reset_mid_body(cls, status: int = 200) -> Fault:
        """Send the headers and half of the body, then abort the connection (TCP RST)."""
        return cls(status=status, reset=True)

    @classmethod
    def repeated_page(cls, page: int) -> Fault:
        """Answer a paged request with page ``page`` again, whatever page it asked for."""
        return cls(serve_page=page)

    @classmethod
    def empty(cls) -> Fault:
        """Answer a paged request with an empty page (the normal envelope, ``data: []``)."""
        return cls(empty_page=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``POST /_sandbox/faults``; bytes bodies go in ``body_text``."""
        out: dict[str, Any] = {
            "status": self.status,
            "headers": dict(self.headers),
            "latency": self.latency,
            "drop": self.drop,
            "truncate": self.truncate,
            "content_type": self.content_type,
            "reset": self.reset,
            "gzip": self.gzip,
            "chunked": self.chunked,
            "drip": self.drip,
            "serve_page": self.serve_page,
            "empty_page": self.empty_page,
        }
        if isinstance(self.body, bytes):
            # surrogateescape keeps non-UTF-8 bytes round-trippable through json.dumps.
            out["body_text"] = self.body.decode("utf-8", "surrogateescape")
        else:
            out["body"] = self.body
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """Inverse of :meth:`to_dict`; rejects unknown keys so typos fail loudly."""
        if not isinstance(data, Mapping):
            raise TypeError(f"a fault must be a JSON object, got {type(data).__name__}")
        known = {"status", "body", "body_text", "headers", "latency", "drop", "truncate"}
        known.update({"content_type", "reset", "gzip", "chunked", "drip"})
        known.update({"serve_page", "empty_page"})
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        if data.get("body") is not None and data.get("body_text") is not None:
            raise ValueError("give a fault either 'body' or 'body_text', not both")
        body: bytes | str | dict[str, Any] | None = data.get("body")
        if body is not None and not isinstance(body, str | dict):
            raise TypeError("fault 'body' must be a string, an object or null")
        body_text = data.get("body_text")
        if body_text is not None:
            if not isinstance(body_text, str):
                raise TypeError("fault 'body_text' must be a string")
            body = body_text.encode("utf-8", "surrogateescape")
        status = data.get("status", 200)
        latency = data.get("latency", 0.0)
        headers = data.get("headers") or {}
        if not isinstance(status, int) or isinstance(status, bool):
            raise TypeError("fault 'status' must be an integer")
        if not isinstance(latency, int | float) or isinstance(latency, bool):
            raise TypeError("fault 'latency' must be a number")
        serve_page = data.get("serve_page")
        if serve_page is not None and (
            not isinstance(serve_page, int) or isinstance(serve_page, bool)
        ):
            raise TypeError("fault 'serve_page' must be an integer or null")
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise TypeError("fault 'headers' must map strings to strings")
        return cls(
            status=status,
            body=body,
            headers=headers,
            latency=float(latency),
            drop=bool(data.get("drop", False)),
            truncate=bool(data.get("truncate", False)),
            reset=bool(data.get("reset", False)),
            gzip=bool(data.get("gzip", False)),
            chunked=bool(data.get("chunked", False)),
            drip=float(data.get("drip", 0.0)),
            serve_page=serve_page,
            empty_page=bool(data.get("empty_page", False)),
            content_type=str(data.get("content_type", "application/json")),
        )


def fault_reply(fault: Fault, real_data: Callable[[Fault], Any]) -> Reply:
    """What ``fault`` answers; ``real_data`` gives the data of a 2xx fault without a body."""
    if fault.drop:
        return Reply(0, drop=True)
    body: bytes
    if fault.body is None:
        if 200 <= fault.status < 300:
            data = real_data(fault)
            extra: Mapping[str, Any] = {}
            if isinstance(data, Paged):
                data, extra = data.data, data.extra
            if fault.empty_page:
                data = []
            body = envelope(True, "", data, fault.status, extra)
        else:
            body = envelope(False, phrase(fault.status), [], fault.status)
    elif isinstance(fault.body, bytes):
        body = fault.body
    elif isinstance(fault.body, str):
        body = fault.body.encode("utf-8")
    else:
        body = json_bytes(fault.body)
    return Reply(
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


def with_page(body: bytes, page: int) -> bytes:
    """A JSON request body asking for ``page`` instead (unchanged if it is not an object)."""
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        return body
    if not isinstance(payload, dict):
        return body
    return json_bytes({**payload, "page": page})
