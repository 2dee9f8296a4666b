"""Webhook endpoints on loopback whose answer each test sets per path (``hooks`` fixture)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Delivery:
    path: str
    status: int
    body: dict[str, Any]

    @property
    def change(self) -> str | None:
        for line in str(self.body.get("message", "")).splitlines():
            if line.startswith("Change id: "):
                return line.removeprefix("Change id: ")
        return None


@dataclass
class Hooks:
    """Webhook endpoints on 127.0.0.1; each path answers ``status[path]`` (default 200)."""

    port: int = 0
    status: dict[str, int] = field(default_factory=dict)
    received: list[Delivery] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def accepted(self, path: str | None = None) -> list[Delivery]:
        return [d for d in self.received if d.status == 200 and path in (None, d.path)]
