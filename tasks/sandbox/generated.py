"""Invented contacts made on request, for audiences too large to hold (benchmarks, memory tests).

Standard library only, like the rest of the sandbox.
"""

from __future__ import annotations

from typing import Any


class GeneratedAudience:
    """``per_segment`` invented contacts in each segment, made on request, never all held.

    For benchmarks and memory tests: contact ``n`` of segment ``s`` is computed from
    ``(s, n)``, so 100,000 members per segment cost nothing until a page asks for them.
    Segments do not share contacts, and ``move`` is not supported.
    """

    def __init__(self, segment_ids: list[str], per_segment: int) -> None:
        if per_segment < 0:
            raise ValueError(f"per_segment must be >= 0, got {per_segment!r}")
        self._ordinal = {segment_id: n for n, segment_id in enumerate(dict.fromkeys(segment_ids))}
        self.per_segment = per_segment

    def count(self, segment_ids: list[str]) -> int:
        chosen = segment_ids or list(self._ordinal)
        return self.per_segment * sum(1 for s in dict.fromkeys(chosen) if s in self._ordinal)

    def page(self, segment_ids: list[str], start: int, stop: int) -> list[dict[str, Any]]:
        chosen = [
            s for s in dict.fromkeys(segment_ids or list(self._ordinal)) if s in self._ordinal
        ]
        out: list[dict[str, Any]] = []
        for position in range(max(start, 0), min(stop, self.count(chosen))):
            segment, index = divmod(position, self.per_segment)
            out.append(generated_contact(self._ordinal[chosen[segment]], index))
        return out

    def members(self, segment_id: str) -> list[str]:
        ordinal = self._ordinal.get(segment_id)
        if ordinal is None:
            return []
        return [generated_contact_id(ordinal, index) for index in range(self.per_segment)]

    def move(self, contact_id: str, source: str | None, target: str | None) -> None:
        raise KeyError("generated audiences do not support moving contacts")


def generated_contact_id(segment: int, index: int) -> str:
    return f"9e{segment:06x}{index:016x}"


def generated_contact(segment: int, index: int) -> dict[str, Any]:
    """Invented contact ``index`` of the ``segment``-th segment (sparse like real ones)."""
    contact: dict[str, Any] = {
        "_id": generated_contact_id(segment, index),
        "name": f"Sample Contact {segment}-{index}",
        "status": "active",
        "createdAt": f"2024-01-01T00:00:{index % 60:02d}.000Z",
    }
    if index % 2 == 0:
        contact["email"] = f"sample.{segment}.{index}@example.com"
    if index % 3 == 0:
        contact["phone"] = f"+1-555-01{index % 100:02d}"
    if index % 5 == 0:
        contact["tags"] = ["vip"]
    return contact
