"""Segments, member pages and table reads for the warehouse tests (SQLite and PostgreSQL).

Imported by bare name, like ``prefect_readback``: pytest puts ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from prefect_botpenguin.core.members import Contact, MemberPage
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.core.warehouse import LoadOptions, load_account, warehouse_tables

TABLES = warehouse_tables()
PAGE = Path(__file__).resolve().parents[1] / "docs" / "warehouse.md"


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


def page_query(title: str) -> str:
    """The SQL under ``### title`` on docs/warehouse.md, as a reader copies it."""
    section = PAGE.read_text("utf-8").split(f"### {title}\n", 1)[1]
    return section.split("```sql\n", 1)[1].split("```", 1)[0]


def _utc(value: Any) -> datetime:
    """A time as the database returned it (SQLite: text), in UTC."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def check_page_queries(engine, naive: bool = False) -> None:
    """Four loads over 50 days, then the page's three queries give the right rows.

    ``naive``: bind times without a zone (SQLite stores them so, and compares text).
    """
    now = datetime.now(UTC)
    days = [now - timedelta(days=d) for d in (50, 40, 10, 1)]
    history = [("VIP", 2, "B", "ab"), ("VIP", 3, "B", "abc"), ("VIP+", 5, "B", "bc")]
    history.append(("VIP+", 8, "B2", "bc"))
    for day, (name, size, other, members) in zip(days, history, strict=True):
        await load_account(
            engine,
            account="shop",
            segments=[segment("s1", name, size), segment("s2", other)],
            member_pages=pages_of({"s1": list(members)}),
            options=LoadOptions(members=("s1",)),
            at=day,
        )

    def bound(moment: datetime) -> datetime:
        return moment.replace(tzinfo=None) if naive else moment

    async with engine.connect() as conn:

        async def run(title: str, **params: Any) -> list[tuple[Any, ...]]:
            params = {k: bound(v) if isinstance(v, datetime) else v for k, v in params.items()}
            result = await conn.execute(text(page_query(title)), {"account": "shop", **params})
            return [tuple(row) for row in result]

        at = days[1] + timedelta(days=1)
        who = await run("Who was in segment X at time T", segment_id="s1", at=at)
        assert who == [("a",), ("b",), ("c",)]
        window = now - timedelta(days=30)
        sizes = await run("Size of X over the last 30 days", segment_id="s1", since=window)
        assert [(_utc(when), count) for when, count in sizes] == [
            (days[1], 3),  # the size when the window opens
            (days[2], 5),
            (days[3], 8),
        ]
        changed = await run("Segments whose definition changed since T", since=days[1])
        assert [(sid, name) for sid, name, _ in changed] == [("s1", "VIP+"), ("s2", "B2")]
