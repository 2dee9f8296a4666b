"""The warehouse load on the embedded database (SQLite): versions, memberships, exactly once.

Real SQLite files through SQLAlchemy's async engine (aiosqlite), no Prefect. The same rules
run against PostgreSQL in tests/e2e/test_warehouse_postgres.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from warehouse_data import TABLES, everything_but_runs, open_members, pages_of, rows, segment

from prefect_botpenguin.core.warehouse import (
    LoadOptions,
    load_account,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def load(engine, segments, members=None, at=T0, **options):
    chosen = tuple(members) if members else ()
    return await load_account(
        engine,
        account="shop",
        segments=segments,
        member_pages=pages_of(members or {}),
        options=LoadOptions(members=chosen, **options),
        at=at,
    )


async def test_a_rename_and_churn_give_a_second_version_and_the_joins_and_leaves(engine):
    first = await load(engine, [segment("s1", "VIP", 3)], {"s1": ["a", "b", "c"]})
    assert (first.versions, first.joins, first.leaves) == (1, 3, 0)

    later = T0 + timedelta(days=1)
    second = await load(engine, [segment("s1", "VIP gold", 3)], {"s1": ["b", "c", "d"]}, at=later)

    assert (second.versions, second.joins, second.leaves, second.sizes) == (1, 1, 1, 0)
    versions = await rows(engine, TABLES.segment_versions)
    assert [(v["name"], v["valid_to"] is None) for v in versions] == [
        ("VIP", False),
        ("VIP gold", True),
    ]
    memberships = await rows(engine, TABLES.memberships)
    assert open_members(memberships, "s1") == {"b", "c", "d"}
    closed = [m for m in memberships if m["valid_to"] is not None]
    assert [m["contact_id"] for m in closed] == ["a"]
    assert closed[0]["valid_to"].replace(tzinfo=UTC) == later


async def test_loading_the_same_answer_again_changes_only_the_runs_table(engine):
    segments = [segment("s1", "VIP", 3, updatedAt="x"), segment("s2", "Lapsed", 1)]
    members = {"s1": ["a", "b", "c"], "s2": ["z"]}
    await load(engine, segments, members, contact_fields=("all",))
    before = await everything_but_runs(engine)

    again = await load(
        engine, segments, members, at=T0 + timedelta(hours=1), contact_fields=("all",)
    )

    assert await everything_but_runs(engine) == before
    assert (again.versions, again.sizes, again.joins, again.leaves) == (0, 0, 0, 0)
    assert len(await rows(engine, TABLES.runs)) == 2


async def test_size_and_bookkeeping_changes_add_a_size_point_but_no_version(engine):
    await load(engine, [segment("s1", "VIP", 3, updatedAt="monday")])
    later = await load(
        engine, [segment("s1", "VIP", 5, updatedAt="tuesday")], at=T0 + timedelta(days=1)
    )
    assert (later.versions, later.sizes) == (0, 1)
    sizes = await rows(engine, TABLES.segment_sizes)
    assert [s["contact_count"] for s in sizes] == [3, 5]
    current = await rows(engine, TABLES.segments)
    assert current[0]["data"]["updatedAt"] == "tuesday"  # the current row follows the API


async def test_a_new_field_and_a_field_changing_type_load_into_the_json(engine):
    await load(engine, [segment("s1", "VIP", 3, rules={"tier": 1})])
    changed = segment("s1", "VIP", 3, rules="tier >= 1", channel=["whatsapp"])
    result = await load(engine, [changed], at=T0 + timedelta(days=1))
    assert result.versions == 1
    current = await rows(engine, TABLES.segments)
    assert current[0]["data"]["rules"] == "tier >= 1"
    assert current[0]["data"]["channel"] == ["whatsapp"]


async def test_a_count_field_turning_into_text_records_no_size_and_does_not_fail(engine):
    await load(engine, [segment("s1", "VIP", 3)])
    result = await load(
        engine, [segment("s1", "VIP", contactCount="many")], at=T0 + timedelta(days=1)
    )
    assert result.sizes == 0


async def test_a_removed_segment_closes_its_version_and_memberships(engine):
    keep = [segment(f"k{i}", f"Keep {i}") for i in range(3)]
    await load(engine, [*keep, segment("gone", "Old")], {"gone": ["a", "b"]})
    result = await load(engine, keep, at=T0 + timedelta(days=1))
    assert result.segments_removed == 1
    assert "gone" not in {row["segment_id"] for row in await rows(engine, TABLES.segments)}
    versions = await rows(engine, TABLES.segment_versions)
    assert [v["valid_to"] is None for v in versions if v["segment_id"] == "gone"] == [False]
    assert open_members(await rows(engine, TABLES.memberships), "gone") == set()


async def test_a_fetch_that_lost_every_segment_is_held_and_changes_nothing(engine):
    await load(engine, [segment("s1", "VIP", 3), segment("s2", "B")], {"s1": ["a"]})
    before = await everything_but_runs(engine)

    held = await load(engine, [], at=T0 + timedelta(days=1))

    assert held.held
    assert await everything_but_runs(engine) == before
    accepted = await load(engine, [], at=T0 + timedelta(days=2))  # the second run in a row
    assert not accepted.held
    assert accepted.segments_removed == 2


async def test_an_empty_member_listing_never_closes_every_membership(engine):
    segments = [segment("s1", "VIP", 3)]
    await load(engine, segments, {"s1": ["a", "b", "c"]})
    before = await everything_but_runs(engine)

    held = await load(engine, segments, {"s1": []}, at=T0 + timedelta(days=1))

    assert held.held
    assert held.leaves == 0
    assert await everything_but_runs(engine) == before
    accepted = await load(engine, segments, {"s1": []}, at=T0 + timedelta(days=2), accept_drop=True)
    assert accepted.leaves == 3


async def test_a_load_failing_mid_listing_leaves_the_database_as_it_was(engine):
    segments = [segment("s1", "VIP", 3), segment("s2", "B", 2)]
    await load(engine, segments, {"s1": ["a", "b", "c"], "s2": ["x", "y"]})
    before = await everything_but_runs(engine)
    runs_before = await rows(engine, TABLES.runs)

    with pytest.raises(RuntimeError, match="mid-listing"):
        await load_account(
            engine,
            account="shop",
            segments=[segment("s1", "VIP renamed", 9), segment("s3", "New")],
            member_pages=pages_of({"s1": ["d", "e", "f", "g"]}, fail_after=1),
            options=LoadOptions(members=("s1",)),
            at=T0 + timedelta(days=1),
        )

    assert await everything_but_runs(engine) == before
    assert await rows(engine, TABLES.runs) == runs_before


async def test_contacts_are_written_only_when_fields_are_asked(engine):
    await load(engine, [segment("s1", "VIP")], {"s1": ["a", "b"]})
    assert await rows(engine, TABLES.contacts) == []
    result = await load(
        engine, [segment("s1", "VIP")], {"s1": ["a", "b"]}, contact_fields=("phone",)
    )
    assert result.contacts == 2
    assert {c["contact_id"]: c["data"] for c in await rows(engine, TABLES.contacts)} == {
        "a": {"phone": "+a"},
        "b": {"phone": "+b"},
    }


async def test_more_members_than_a_batch_load_in_batches(engine):
    ids = [f"c{i:06d}" for i in range(12_345)]
    result = await load(engine, [segment("s1", "Big")], {"s1": ids})
    assert (result.members, result.joins) == (12_345, 12_345)
    churned = ids[100:] + [f"n{i}" for i in range(100)]
    again = await load(engine, [segment("s1", "Big")], {"s1": churned}, at=T0 + timedelta(days=1))
    assert (again.joins, again.leaves) == (100, 100)


async def test_table_names_take_the_configured_prefix(engine):
    await load(engine, [segment("s1", "VIP")], prefix="crm_bp_")
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync: sync.dialect.get_table_names(sync))
    assert {"crm_bp_segments", "crm_bp_runs", "crm_bp_memberships"} <= set(names)
