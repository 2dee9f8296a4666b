"""Memberships as SCD2 rows, loaded from a stream of member pages in constant memory.

The pages go, a batch at a time, into a temporary staging table of (segment id, contact id)
that lives inside the load's transaction. The diff against the open memberships is then two
set statements that the database runs: the joins are inserted, the leaves get ``valid_to``.
So an incremental load writes only the joins and the leaves, and Python never holds the whole
audience (``membership_diff.diff_membership`` compares in-memory sets, which a million
members would not fit). Contact details go to the contacts table only when fields are asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Index,
    MetaData,
    String,
    Table,
    and_,
    exists,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from ..members import MemberPage
from .scd2 import BATCH_ROWS, json_hash
from .tables import ID, WarehouseTables
from .upsert import upsert_contacts

ALL_FIELDS = "all"
"""The ``contact_fields`` choice that keeps every field of a contact."""


@dataclass(frozen=True)
class StagedMembers:
    """What the staging table holds: the listed rows, and the open memberships they replace."""

    staging: Table
    segment_ids: tuple[str, ...]
    members: int
    open: int
    contacts: int


def _staging_table(prefix: str) -> Table:
    # No schema: PostgreSQL keeps temporary tables in a schema of their own.
    return Table(
        f"{prefix}staging_members",
        MetaData(),
        Column("segment_id", ID, nullable=False),
        Column("contact_id", ID, nullable=False),
        prefixes=["TEMPORARY"],
    )


def _contact_data(extra: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    if ALL_FIELDS in fields:
        return extra
    return {name: extra.get(name) for name in fields}


async def stage_members(
    conn: AsyncConnection,
    t: WarehouseTables,
    *,
    account: str,
    segment_ids: Sequence[str],
    pages: AsyncIterable[MemberPage],
    contact_fields: Sequence[str] | None,
    at: datetime,
    prefix: str,
) -> StagedMembers:
    """Write every page into a fresh staging table (and contacts when asked); count the diff."""
    staging = _staging_table(prefix)
    await conn.run_sync(staging.create)
    batch: list[tuple[str, str]] = []
    contacts: dict[str, dict[str, Any]] = {}
    members = contact_count = 0
    async for page in pages:
        batch.extend((page.segment_id, contact.id) for contact in page.contacts)
        if contact_fields:
            for contact in page.contacts:
                contacts[contact.id] = _contact_data(contact.extra, contact_fields)
        if len(batch) >= BATCH_ROWS:
            members += await _stage(conn, staging, batch)
            batch = []
        if len(contacts) >= BATCH_ROWS:
            contact_count += await _write_contacts(conn, t, account, contacts, at)
            contacts = {}
    members += await _stage(conn, staging, batch)
    if contacts:
        contact_count += await _write_contacts(conn, t, account, contacts, at)
    await conn.run_sync(Index(None, staging.c.segment_id, staging.c.contact_id).create)
    if conn.dialect.name == "postgresql":  # a temporary table has no statistics until then
        await conn.execute(text(f"ANALYZE {staging.name}"))
    m = t.memberships.c
    open_count = await conn.scalar(
        select(func.count()).where(
            m.account == account, m.valid_to.is_(None), m.segment_id.in_(segment_ids)
        )
    )
    return StagedMembers(staging, tuple(segment_ids), members, int(open_count or 0), contact_count)


async def _stage(conn: AsyncConnection, staging: Table, batch: list[tuple[str, str]]) -> int:
    """One batch into the staging table: PostgreSQL's COPY through asyncpg (the same
    connection, so the same transaction), else a multi-row INSERT. Its row count."""
    if not batch:
        return 0
    if conn.dialect.driver == "asyncpg":
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            staging.name, records=batch, columns=["segment_id", "contact_id"]
        )
    else:
        rows = [{"segment_id": segment_id, "contact_id": c} for segment_id, c in batch]
        await conn.execute(staging.insert(), rows)
    return len(batch)


def _in_staging(t: WarehouseTables, staging: Table) -> Any:
    m = t.memberships.c
    return exists().where(
        staging.c.segment_id == m.segment_id, staging.c.contact_id == m.contact_id
    )


async def _write_contacts(
    conn: AsyncConnection,
    t: WarehouseTables,
    account: str,
    contacts: dict[str, dict[str, Any]],
    at: datetime,
) -> int:
    rows = [
        {
            "account": account,
            "contact_id": contact_id,
            "data": data,
            "data_hash": json_hash(data),
            "updated_at": at,
        }
        for contact_id, data in contacts.items()
    ]
    await upsert_contacts(conn, t.contacts, rows)
    return len(rows)


async def close_leaves(
    conn: AsyncConnection, t: WarehouseTables, staged: StagedMembers, *, account: str, at: datetime
) -> int:
    """Give ``valid_to`` to the open memberships the listing no longer has; how many.

    Run before ``insert_joins``, so it scans only the memberships that were open before.
    """
    m = t.memberships.c
    left = await conn.execute(
        t.memberships.update()
        .where(
            and_(
                m.account == account,
                m.valid_to.is_(None),
                m.segment_id.in_(staged.segment_ids),
                ~_in_staging(t, staged.staging),
            )
        )
        .values(valid_to=at)
    )
    return max(left.rowcount, 0)


async def insert_joins(
    conn: AsyncConnection, t: WarehouseTables, staged: StagedMembers, *, account: str, at: datetime
) -> int:
    """Open a membership for every listed contact without an open one; how many."""
    staging, m = staged.staging, t.memberships.c
    already = exists().where(
        m.account == account,
        m.segment_id == staging.c.segment_id,
        m.contact_id == staging.c.contact_id,
        m.valid_to.is_(None),
    )
    joiners = (
        select(
            literal(account, String).label("account"),
            staging.c.segment_id,
            staging.c.contact_id,
            literal(at, t.memberships.c.valid_from.type).label("valid_from"),
        )
        .where(~already)
        .distinct()
    )
    joined = await conn.execute(
        t.memberships.insert().from_select(
            ["account", "segment_id", "contact_id", "valid_from"], joiners
        )
    )
    return max(joined.rowcount, 0)


async def drop_staging(conn: AsyncConnection, staged: StagedMembers) -> None:
    """Drop the staging table (a held load keeps nothing of it either)."""
    await conn.run_sync(staged.staging.drop)


__all__ = [
    "ALL_FIELDS",
    "StagedMembers",
    "close_leaves",
    "drop_staging",
    "insert_joins",
    "stage_members",
]
