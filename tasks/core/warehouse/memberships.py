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

from sqlalchemy import Column, Index, MetaData, String, Table, and_, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..members import MemberPage
from .scd2 import BATCH_ROWS, json_hash
from .tables import ID, WarehouseTables
from .upsert import upsert_contacts

ALL_FIELDS = "all"
"""The ``contact_fields`` choice that keeps every field of a contact."""


@dataclass(frozen=True)
class StagedMembers:
    """What the staging table holds, and what applying it would change."""

    staging: Table
    segment_ids: tuple[str, ...]
    members: int
    open: int
    leaves: int
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
    batch: list[dict[str, str]] = []
    contacts: dict[str, dict[str, Any]] = {}
    contact_count = 0
    async for page in pages:
        for contact in page.contacts:
            batch.append({"segment_id": page.segment_id, "contact_id": contact.id})
            if contact_fields:
                contacts[contact.id] = _contact_data(contact.extra, contact_fields)
        if len(batch) >= BATCH_ROWS:
            await conn.execute(staging.insert(), batch)
            batch = []
        if len(contacts) >= BATCH_ROWS:
            contact_count += await _write_contacts(conn, t, account, contacts, at)
            contacts = {}
    if batch:
        await conn.execute(staging.insert(), batch)
    if contacts:
        contact_count += await _write_contacts(conn, t, account, contacts, at)
    await conn.run_sync(Index(None, staging.c.segment_id, staging.c.contact_id).create)
    members = await conn.scalar(select(func.count()).select_from(staging))
    m = t.memberships.c
    selected = (m.account == account, m.valid_to.is_(None), m.segment_id.in_(segment_ids))
    open_count = await conn.scalar(select(func.count()).where(*selected))
    leaves = await conn.scalar(select(func.count()).where(*selected, ~_in_staging(t, staging)))
    return StagedMembers(
        staging,
        tuple(segment_ids),
        int(members or 0),
        int(open_count or 0),
        int(leaves or 0),
        contact_count,
    )


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


async def apply_members(
    conn: AsyncConnection, t: WarehouseTables, staged: StagedMembers, *, account: str, at: datetime
) -> tuple[int, int]:
    """Insert the joins and close the leaves; (joins, leaves). Drops the staging table."""
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
    left = await conn.execute(
        t.memberships.update()
        .where(
            and_(
                m.account == account,
                m.valid_to.is_(None),
                m.segment_id.in_(staged.segment_ids),
                ~_in_staging(t, staging),
            )
        )
        .values(valid_to=at)
    )
    await drop_staging(conn, staged)
    return max(joined.rowcount, 0), max(left.rowcount, 0)


async def drop_staging(conn: AsyncConnection, staged: StagedMembers) -> None:
    """Drop the staging table (a held load keeps nothing of it either)."""
    await conn.run_sync(staged.staging.drop)


__all__ = ["ALL_FIELDS", "StagedMembers", "apply_members", "drop_staging", "stage_members"]
