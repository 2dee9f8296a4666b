"""One account's load: one transaction, exactly once or not at all. No Prefect import.

``load_account`` creates the tables when missing (their own short transaction), then, in ONE
transaction: locks the account (PostgreSQL advisory lock; the Prefect layer also holds the
watch's per-account lease), applies the drop guard, stages the members page by page, writes
segments, versions, sizes, joins and leaves, and finally its run row. A load that fails or is
killed anywhere in between commits nothing: the database stays exactly as it was.

The drop guard is the watch's (``watch_state.is_suspicious_drop``): a fetch that lost all or
more than ``drop_guard_share`` of the account's segments, or a member listing that would close
all or more than that share of the open memberships, is *held*: only the run row is written
(``held``), until ``drop_guard_runs`` loads in a row see it or ``accept_drop`` is given.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import CreateSchema

from ..change_kinds import ChangeKindRules
from ..members import MemberPage
from ..models import Segment
from ..watch_state import is_suspicious_drop
from .memberships import (
    StagedMembers,
    close_leaves,
    drop_staging,
    insert_joins,
    stage_members,
)
from .scd2 import SegmentCounts, apply_segments, current_segment_ids
from .tables import DEFAULT_PREFIX, WarehouseTables, warehouse_tables

MemberPages = Callable[[Sequence[str]], AsyncIterable[MemberPage]]
"""Given segment ids, their members page by page (``core.members.iter_members`` of a client)."""
SCHEMA_LOCK = 0x626F7470  # one PostgreSQL advisory lock key for creating the tables


@dataclass(frozen=True)
class LoadOptions:
    """How one load behaves; the flow parameters of the same names."""

    members: tuple[str, ...] = ()
    """Segment ids whose memberships to load (empty: segments only)."""
    contact_fields: tuple[str, ...] = ()
    """Contact fields for the contacts table (``all`` for every one; empty: no contacts)."""
    accept_drop: bool = False
    drop_guard_share: float = 0.5
    drop_guard_runs: int = 2
    prefix: str = DEFAULT_PREFIX
    schema: str | None = None


@dataclass(frozen=True)
class LoadResult:
    """The run row of one load: ids and counts, never a contact."""

    run_id: str
    account: str
    flow_run_id: str | None
    loaded_at: datetime
    held: bool
    segments: int
    segments_created: int
    segments_removed: int
    versions: int
    sizes: int
    members: int
    joins: int
    leaves: int
    contacts: int

    def counts(self) -> dict[str, int]:
        """The numbers, for logs, artifacts and the CLI."""
        return {k: v for k, v in asdict(self).items() if isinstance(v, int) and k != "held"}


async def ensure_tables(engine: AsyncEngine, t: WarehouseTables) -> None:
    """Create the schema and tables that are missing; concurrent loads do it one at a time."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
            if t.metadata.schema:
                await conn.execute(CreateSchema(t.metadata.schema, if_not_exists=True))
        await conn.run_sync(t.metadata.create_all)


async def _lock_account(conn: AsyncConnection, account: str) -> None:
    """Serialise loads of one account on PostgreSQL, even from two Prefect servers."""
    if conn.dialect.name == "postgresql":
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:account))"), {"account": account}
        )


async def _held_before(conn: AsyncConnection, t: WarehouseTables, account: str, runs: int) -> bool:
    """True when the last ``runs`` loads of the account were all held."""
    if runs <= 0:
        return True
    rows = await conn.execute(
        select(t.runs.c.held)
        .where(t.runs.c.account == account)
        .order_by(t.runs.c.loaded_at.desc())
        .limit(runs)
    )
    held = [bool(value) for (value,) in rows]
    return len(held) == runs and all(held)


def _drops_members(staged: StagedMembers, leaves: int, share: float) -> bool:
    """The drop guard for memberships: all, or more than ``share``, of the open ones gone."""
    if staged.open == 0:
        return False
    return staged.members == 0 or leaves / staged.open > share


async def load_account(
    engine: AsyncEngine,
    *,
    account: str,
    segments: Sequence[Segment],
    member_pages: MemberPages | None = None,
    options: LoadOptions | None = None,
    rules: ChangeKindRules | None = None,
    flow_run_id: str | None = None,
    at: datetime | None = None,
) -> LoadResult:
    """Load one account's segments (and the chosen segments' members) in one transaction."""
    opts = options or LoadOptions()
    rules = rules or ChangeKindRules()
    t = warehouse_tables(opts.prefix, opts.schema)
    at = at or datetime.now(UTC)
    run_id = str(uuid.uuid4())
    await ensure_tables(engine, t)
    known = {segment.id for segment in segments}
    chosen = tuple(sid for sid in dict.fromkeys(opts.members) if sid in known)
    async with engine.begin() as conn:
        await _lock_account(conn, account)
        accepted = opts.accept_drop or await _held_before(
            conn, t, account, opts.drop_guard_runs - 1
        )
        before = await current_segment_ids(conn, t, account)
        held = not accepted and is_suspicious_drop(before, known, opts.drop_guard_share)
        staged, counts, joins, leaves = None, SegmentCounts(), 0, 0
        if not held and chosen and member_pages is not None:
            staged = await stage_members(
                conn,
                t,
                account=account,
                segment_ids=chosen,
                pages=member_pages(chosen),
                contact_fields=opts.contact_fields or None,
                at=at,
                prefix=opts.prefix,
            )
            # Close first, and measure the guard by what closing did: no second scan.
            savepoint = await conn.begin_nested()
            leaves = await close_leaves(conn, t, staged, account=account, at=at)
            held = not accepted and _drops_members(staged, leaves, opts.drop_guard_share)
            if held:
                await savepoint.rollback()
                leaves = 0
            else:
                await savepoint.commit()
        if not held:
            counts = await apply_segments(
                conn, t, account=account, segments=segments, rules=rules, at=at, run_id=run_id
            )
            if staged is not None:
                joins = await insert_joins(conn, t, staged, account=account, at=at)
        if staged is not None:
            await drop_staging(conn, staged)
        result = LoadResult(
            run_id=run_id,
            account=account,
            flow_run_id=flow_run_id,
            loaded_at=at,
            held=held,
            segments=len(segments),
            segments_created=counts.created,
            segments_removed=counts.removed,
            versions=counts.versions,
            sizes=counts.sizes,
            members=staged.members if staged else 0,
            joins=joins,
            leaves=leaves,
            contacts=staged.contacts if staged else 0,
        )
        await conn.execute(t.runs.insert(), [asdict(result)])
    return result


async def count_rows(engine: AsyncEngine, t: WarehouseTables) -> dict[str, int]:
    """Rows per table (tests and the benchmark compare them before and after a load)."""
    counts: dict[str, int] = {}
    async with engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            counts[table.name] = int(
                await conn.scalar(select(func.count()).select_from(table)) or 0
            )
    return counts


__all__ = [
    "LoadOptions",
    "LoadResult",
    "MemberPages",
    "count_rows",
    "ensure_tables",
    "load_account",
]
