"""Segments, member pages and table reads for the warehouse tests (SQLite and PostgreSQL).

Imported by bare name, like ``prefect_readback``: pytest puts ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import select

from prefect_botpenguin.core.members import Contact, MemberPage
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.core.warehouse import warehouse_tables

TABLES = warehouse_tables()


def segment(sid: str, name: str, count: int | None = None, **extra: Any) -> Segment:
    data: dict[str, Any] = {"_id": sid, "segmentName": name, **extra}
    if count is not None:
        data["contactCount"] = count
    return Segment.model_validate(data)


def pages_of(members: dict[str, list[str]], page_size: int = 2, fail_after: int | None = None):
    """A ``MemberPages`` over fixed member lists; after ``fail_after`` pages, it raises."""

    def pages(segment_ids: Sequence[str]) -> AsyncIterator[MemberPage]:
        async def walk() -> AsyncIterator[MemberPage]:
            served = 0
            for sid in segment_ids:
                ids = members.get(sid, [])
                for start in range(0, len(ids), page_size):
                    if fail_after is not None and served >= fail_after:
                        raise RuntimeError("API went away mid-listing")
                    served += 1
                    chunk = ids[start : start + page_size]
                    contacts = [Contact.model_validate({"_id": c, "phone": f"+{c}"}) for c in chunk]
                    yield MemberPage(sid, start // page_size + 1, contacts)

        return walk()

    return pages


async def rows(engine, table) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(select(table))
        return sorted((dict(row._mapping) for row in result), key=repr)


async def everything_but_runs(engine) -> dict[str, list[dict[str, Any]]]:
    return {
        table.name: await rows(engine, table)
        for table in TABLES.metadata.sorted_tables
        if table is not TABLES.runs
    }


def open_members(memberships: list[dict[str, Any]], sid: str) -> set[str]:
    return {m["contact_id"] for m in memberships if m["segment_id"] == sid and not m["valid_to"]}
