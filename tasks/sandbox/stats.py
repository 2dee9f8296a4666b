"""What the sandbox counts: requests, their log, concurrency and connections.

Why: tests check a client's behaviour from the server's side -- how many requests a retry
made, that the concurrency cap held, that connections were reused. The log keeps method,
path, status and whether auth was sent: never header values or tokens.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any


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


class Traffic:
    """API requests and TCP connections since start or reset, guarded by the server's lock."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._entries: list[_Entry] = []
        self.request_count = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._connections: set[socket.socket] = set()
        self.connections_opened = 0

    def begin(self, method: str, path: str, had_auth: bool) -> _Entry:
        """Log a request as it arrives (its status comes with ``end``)."""
        entry = _Entry(method=method, path=path, at=time.monotonic(), had_auth=had_auth)
        with self._lock:
            self._entries.append(entry)
            self.request_count += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return entry

    def end(self, entry: _Entry, status: int | None) -> None:
        """The answer's status (None: dropped unanswered)."""
        with self._lock:
            entry.status = status
            self.in_flight -= 1

    def records(self) -> list[RequestRecord]:
        """Caller holds the lock."""
        return [entry.freeze() for entry in self._entries]

    def log(self) -> list[dict[str, Any]]:
        """The request log as JSON-ready rows; caller holds the lock."""
        return [
            {
                "method": e.method,
                "path": e.path,
                "status": e.status,
                "at": e.at,
                "had_auth": e.had_auth,
            }
            for e in self._entries
        ]

    def clear(self) -> None:
        """Forget counts and the log (requests in flight stay the peak's floor); caller locks."""
        self._entries.clear()
        self.request_count = 0
        self.max_in_flight = self.in_flight
        self.connections_opened = 0

    def track(self, conn: socket.socket) -> None:
        """Remember an open connection, so ``cut`` can hang it up."""
        with self._lock:
            self._connections.add(conn)
            self.connections_opened += 1

    def untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def cut(self) -> None:
        """Hang up every open keep-alive connection, so clients see a dead server."""
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
