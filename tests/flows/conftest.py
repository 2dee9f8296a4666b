"""Flow-tier fixtures: one sandbox account and one set of webhook endpoints, shared by the
flow tests instead of a copy per file."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from webhooks import Delivery, Hooks

from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS, SandboxServer


@pytest.fixture
def account(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SandboxServer]:
    """A sandbox account with the sample segments, reachable through ``BOTPENGUIN_*`` settings.

    The token is the test module's ``TOKEN``: each file keeps its own, so a token found where
    it must not be names the file that leaked it.
    """
    token: str = request.module.TOKEN
    with SandboxServer(accounts={token: SAMPLE_SEGMENTS}) as server:
        monkeypatch.setenv("BOTPENGUIN_BASE_URL", server.url)
        monkeypatch.setenv("BOTPENGUIN_API_TOKEN", token)
        monkeypatch.delenv("BOTPENGUIN_ACCOUNT", raising=False)
        yield server


@pytest.fixture
def partner_sandbox(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[int, float], SandboxServer]]:
    """Start a sandbox partner with N accounts, its token in ``BOTPENGUIN_*`` as a worker's
    would be, one attempt per request (a fan-out test wants failures, not retries)."""
    with ExitStack() as stack:

        def start(accounts: int, latency: float) -> SandboxServer:
            sandbox = stack.enter_context(SandboxServer.simulated(accounts, latency=latency))
            monkeypatch.setenv("BOTPENGUIN_BASE_URL", sandbox.url)
            monkeypatch.setenv("BOTPENGUIN_API_TOKEN", sandbox.partner_token or "")
            monkeypatch.setenv("BOTPENGUIN_MAX_ATTEMPTS", "1")
            monkeypatch.delenv("BOTPENGUIN_ACCOUNT", raising=False)
            return sandbox

        yield start


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    """Webhook endpoints on 127.0.0.1 that record each delivery and answer per path."""
    state = Hooks()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                status = state.status.get(self.path, 200)
                state.received.append(Delivery(self.path, status, json.loads(body or b"{}")))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
