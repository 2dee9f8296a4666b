"""Segments, their versions and sizes: what one load writes for the segments it fetched.

A segment's *definition* is its API object without the size and bookkeeping fields
(``change_kinds.KIND_FIELDS`` and the deployment's extras), so a new version row appears
exactly when the watch would call the change a definition change. Sizes are a series of
points: a point is written when the count the API sends differs from the segment's latest
point (or it has none), so loading the same answer twice writes nothing, and "the size on
day D" is the latest point at or before D. Everything here runs on the load's connection,
inside its one transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..change_kinds import ChangeKindRules, count_of
from ..models import Segment
from .tables import WarehouseTables

BATCH_ROWS = 5000
"""Rows per INSERT: one page of work, so memory follows the batch, not the audience."""


def json_hash(value: Any) -> str:
    """A stable digest of a JSON value (keys sorted), to compare objects without reading them."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def definition_of(data: Mapping[str, Any], rules: ChangeKindRules) -> dict[str, Any]:
    """``data`` without its size and bookkeeping fields: what a new version is about."""
    skip = {*rules.size_fields, *rules.bookkeeping_fields}
    return {key: value for key, value in data.items() if key not in skip}


@dataclass(frozen=True)
class SegmentCounts:
    """What one load changed among an account's segments."""

    created: int = 0
    removed: int = 0
    versions: int = 0
    sizes: int = 0
    removed_ids: tuple[str, ...] = ()


async def batched_insert(
    conn: AsyncConnection, table: Any, rows: Sequence[Mapping[str, Any]]
) -> None:
    """INSERT ``rows`` in batches of ``BATCH_ROWS``."""
    for start in range(0, len(rows), BATCH_ROWS):
        await conn.execute(table.insert(), list(rows[start : start + BATCH_ROWS]))


async def _current(conn: AsyncConnection, t: WarehouseTables, account: str) -> dict[str, str]:
    rows = await conn.execute(
        select(t.segments.c.segment_id, t.segments.c.data_hash).where(
            t.segments.c.account == account
        )
    )
    return {segment_id: digest for segment_id, digest in rows}


async def _open_versions(conn: AsyncConnection, t: WarehouseTables, account: str) -> dict[str, str]:
    v = t.segment_versions.c
    rows = await conn.execute(
        select(v.segment_id, v.definition_hash).where(v.account == account, v.valid_to.is_(None))
    )
    return {segment_id: digest for segment_id, digest in rows}


async def _latest_sizes(conn: AsyncConnection, t: WarehouseTables, account: str) -> dict[str, int]:
    s = t.segment_sizes.c
    latest = (
        select(s.segment_id, func.max(s.measured_at).label("at"))
        .where(s.account == account)
        .group_by(s.segment_id)
        .subquery()
    )
    rows = await conn.execute(
        select(s.segment_id, s.contact_count).join(
            latest,
            and_(
                s.account == account,
                s.segment_id == latest.c.segment_id,
                s.measured_at == latest.c.at,
            ),
        )
    )
    return {segment_id: int(count) for segment_id, count in rows}


async def current_segment_ids(conn: AsyncConnection, t: WarehouseTables, account: str) -> list[str]:
    """The ids in the account's current segments table (the drop guard compares with them)."""
    return list(await _current(conn, t, account))


async def apply_segments(
    conn: AsyncConnection,
    t: WarehouseTables,
    *,
    account: str,
    segments: Iterable[Segment],
    rules: ChangeKindRules,
    at: datetime,
    run_id: str,
) -> SegmentCounts:
    """Upsert current segments, open/close versions, add size points, remove what is gone.

    A removed segment leaves the current table; its open version and open memberships get
    ``valid_to = at``.
    """
    current = await _current(conn, t, account)
    versions = await _open_versions(conn, t, account)
    sizes = await _latest_sizes(conn, t, account)
    new_rows: list[dict[str, Any]] = []
    new_versions: list[dict[str, Any]] = []
    new_sizes: list[dict[str, Any]] = []
    closing: list[str] = []
    seen: set[str] = set()
    created = 0
    for segment in segments:
        seen.add(segment.id)
        data = segment.to_api_dict()
        digest = json_hash(data)
        row = {"data": data, "data_hash": digest, "name": segment.name, "updated_at": at}
        if segment.id not in current:
            created += 1
            new_rows.append(
                {"account": account, "segment_id": segment.id, "first_seen_at": at, **row}
            )
        elif current[segment.id] != digest:
            seg = t.segments.c
            await conn.execute(
                t.segments.update()
                .where(seg.account == account, seg.segment_id == segment.id)
                .values(run_id=run_id, **row)
            )
        definition = definition_of(data, rules)
        definition_digest = json_hash(definition)
        if versions.get(segment.id) != definition_digest:
            if segment.id in versions:
                closing.append(segment.id)
            new_versions.append(
                {
                    "account": account,
                    "segment_id": segment.id,
                    "valid_from": at,
                    "valid_to": None,
                    "name": segment.name,
                    "definition": definition,
                    "definition_hash": definition_digest,
                    "run_id": run_id,
                }
            )
        count = count_of(data, rules)
        if count is not None and sizes.get(segment.id) != count:
            new_sizes.append(
                {
                    "account": account,
                    "segment_id": segment.id,
                    "measured_at": at,
                    "contact_count": count,
                    "run_id": run_id,
                }
            )
    for row in new_rows:
        row["run_id"] = run_id
    removed = [segment_id for segment_id in current if segment_id not in seen]
    await _close(conn, t, account, [*closing, *removed], at)
    if removed:
        seg = t.segments.c
        await conn.execute(
            t.segments.delete().where(seg.account == account, seg.segment_id.in_(removed))
        )
        m = t.memberships.c
        await conn.execute(
            t.memberships.update()
            .where(m.account == account, m.segment_id.in_(removed), m.valid_to.is_(None))
            .values(valid_to=at)
        )
    await batched_insert(conn, t.segments, new_rows)
    await batched_insert(conn, t.segment_versions, new_versions)
    await batched_insert(conn, t.segment_sizes, new_sizes)
    return SegmentCounts(created, len(removed), len(new_versions), len(new_sizes), tuple(removed))


async def _close(
    conn: AsyncConnection, t: WarehouseTables, account: str, segment_ids: list[str], at: datetime
) -> None:
    """Give the open versions of ``segment_ids`` their ``valid_to``."""
    v = t.segment_versions.c
    for start in range(0, len(segment_ids), BATCH_ROWS):
        await conn.execute(
            t.segment_versions.update()
            .where(
                v.account == account,
                v.segment_id.in_(segment_ids[start : start + BATCH_ROWS]),
                v.valid_to.is_(None),
            )
            .values(valid_to=at)
        )


__all__ = [
    "BATCH_ROWS",
    "SegmentCounts",
    "apply_segments",
    "current_segment_ids",
    "definition_of",
    "json_hash",
]
