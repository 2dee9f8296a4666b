"""The sandbox in a process of its own, so its threads do not compete for the benchmark's GIL
and its allocations stay out of the benchmark's memory figures."""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Self

import httpx

from prefect_botpenguin.sandbox import SandboxServer

STARTUP_TIMEOUT = 120.0


@dataclass(frozen=True)
class SandboxConfig:
    accounts: int
    segments_per_account: int | None = None
    latency: float = 0.0
    page_size: int = 20
    contacts_per_segment: int = 0
    member_page_size: int = 500


def _serve(config: SandboxConfig, conn: Connection) -> None:
    options = dataclasses.asdict(config)
    server = SandboxServer.simulated(options.pop("accounts"), **options)
    with server:
        conn.send((server.url, server.account_tokens, server.partner_token))
        conn.recv()  # any message means stop


class RemoteSandbox:
    """``SandboxServer.simulated`` in a child process; stats and reset over its control API."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(config, child), daemon=True)
        self.url = ""
        self.tokens: list[str] = []
        self.partner_token = ""

    def __enter__(self) -> Self:
        self._process.start()
        if not self._conn.poll(STARTUP_TIMEOUT):
            self._process.kill()
            raise RuntimeError("the sandbox process did not start in time")
        self.url, self.tokens, partner = self._conn.recv()
        self.partner_token = partner or ""
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(OSError):  # the child may already be gone
            self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)

    @property
    def pid(self) -> int:
        """The sandbox process, for measuring its CPU."""
        return self._process.pid or 0

    def reset(self) -> None:
        httpx.post(f"{self.url}/_sandbox/reset", timeout=30).raise_for_status()

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/_sandbox/stats", timeout=30)
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        stats.pop("log", None)
        return stats
