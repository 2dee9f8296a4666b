"""The warehouse on PostgreSQL 15 (the session's throwaway cluster): history, the README's
queries, a SIGKILL mid-load, a repeated load, and the password kept out of every record.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from warehouse_data import (
    TABLES,
    check_page_queries,
    everything_but_runs,
    open_members,
    pages_of,
    rows,
    segment,
)

from prefect_botpenguin.core.warehouse import (
    LoadOptions,
    create_warehouse_engine,
    load_account,
    target_url,
)
from prefect_botpenguin.core.warehouse.engine import WarehouseSettings

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "warehouse.md"
NUMBERS = itertools.count()


@pytest.fixture
def database_url(postgres_cluster) -> str:
    """A fresh database on the session's cluster; the URL without its password."""
    name = f"warehouse_{os.getpid()}_{next(NUMBERS)}"
    postgres_cluster.query("postgres", f"CREATE DATABASE {name}")
    return f"postgresql://postgres@127.0.0.1:{postgres_cluster.port}/{name}"


@pytest.fixture
async def engine(database_url, postgres_cluster) -> AsyncIterator:
    settings = WarehouseSettings(db_password=postgres_cluster.password)
    engine = create_warehouse_engine(target_url(database_url, settings))
    yield engine
    await engine.dispose()


async def load(engine, segments, members=None, at=None, **options):
    return await load_account(
        engine,
        account="shop",
        segments=segments,
        member_pages=pages_of(members or {}),
        options=LoadOptions(members=tuple(members or ()), **options),
        at=at,
    )


async def test_two_loads_with_a_rename_and_churn_then_a_repeat_that_changes_nothing(engine):
    t0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
    await load(
        engine, [segment("s1", "VIP", 3), segment("s2", "B", 1)], {"s1": ["a", "b", "c"]}, t0
    )
    segments = [segment("s1", "VIP gold", 3), segment("s2", "B", 1)]
    second = await load(engine, segments, {"s1": ["b", "c", "d"]}, t0 + timedelta(days=1))
    assert (second.versions, second.joins, second.leaves) == (1, 1, 1)
    versions = await rows(engine, TABLES.segment_versions)
    assert sorted((v["segment_id"], v["name"], v["valid_to"] is None) for v in versions) == [
        ("s1", "VIP", False),
        ("s1", "VIP gold", True),
        ("s2", "B", True),
    ]
    assert open_members(await rows(engine, TABLES.memberships), "s1") == {"b", "c", "d"}

    before = await everything_but_runs(engine)
    again = await load(engine, segments, {"s1": ["b", "c", "d"]}, t0 + timedelta(days=2))
    assert await everything_but_runs(engine) == before
    assert (again.versions, again.sizes, again.joins, again.leaves) == (0, 0, 0, 0)
    assert len(await rows(engine, TABLES.runs)) == 3


async def test_the_three_queries_of_the_warehouse_page_return_the_right_rows(engine):
    await check_page_queries(engine)


KILLED_LOAD = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from prefect_botpenguin.core.members import Contact, MemberPage
    from prefect_botpenguin.core.models import Segment
    from prefect_botpenguin.core.warehouse import (
        LoadOptions, create_warehouse_engine, load_account, target_url,
    )

    url, marker = sys.argv[1], Path(sys.argv[2])

    def pages(segment_ids):
        async def walk():
            for number in range(1, 100):
                ids = [f"k{number:03d}{i:04d}" for i in range(5000)]
                yield MemberPage("s1", number, [Contact.model_validate({"_id": c}) for c in ids])
                if number == 3:
                    marker.write_text("mid-load")  # three batches are in the database, uncommitted
                    time.sleep(600)
        return walk()

    async def main():
        engine = create_warehouse_engine(target_url(url))
        renamed = {"_id": "s1", "segmentName": "Renamed", "contactCount": 9}
        segments = [Segment.model_validate(renamed)]
        await load_account(engine, account="shop", segments=segments, member_pages=pages,
                           options=LoadOptions(members=("s1",), accept_drop=True))

    asyncio.run(main())
    """
)


async def test_a_load_killed_mid_way_leaves_no_trace(
    engine, database_url, postgres_cluster, tmp_path
):
    await load(engine, [segment("s1", "VIP", 3)], {"s1": ["a", "b", "c"]})
    before, runs = await everything_but_runs(engine), await rows(engine, TABLES.runs)
    marker = tmp_path / "marker"
    env = {**os.environ, "BOTPENGUIN_DB_PASSWORD": postgres_cluster.password}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_LOAD, database_url, str(marker)], env=env
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, "the load ended before it was killed"
            assert time.monotonic() < deadline, "the load never got half-way"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    await engine.dispose()  # a fresh connection sees what PostgreSQL kept

    assert await everything_but_runs(engine) == before
    assert await rows(engine, TABLES.runs) == runs
    after = await load(engine, [segment("s1", "VIP", 3)], {"s1": ["a", "b", "c"]})  # not locked
    assert (after.joins, after.leaves) == (0, 0)


@pytest.fixture
def sandbox_account(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("BOTPENGUIN_ACCOUNT", f"pg-{tmp_path.name}")
    monkeypatch.chdir(tmp_path)


def test_the_password_reaches_no_output_parameter_or_artifact(
    database_url, postgres_cluster, prefect_harness, sandbox_account, capsys, caplog
):
    import asyncio

    from prefect.client.orchestration import get_client

    from prefect_botpenguin.flows.cli import main

    password = postgres_cluster.password
    with_password = database_url.replace("postgres@", f"postgres:{password}@")
    caplog.set_level("DEBUG")
    assert main(["load", "--sandbox", "--db", with_password, "--members", "all"]) == 0
    out, err = capsys.readouterr()
    assert "Loaded account" in out
    run_id = re.search(r"Run: (\S+)", out)
    assert run_id
    for where, recorded in (("stdout", out), ("stderr", err), ("logs", caplog.text)):
        assert password not in recorded, where

    async def records() -> str:
        async with get_client() as client:
            flow_runs = await client.read_flow_runs(limit=5, sort="START_TIME_DESC")
            artifacts = await client.read_artifacts(limit=20)
        return repr([r.parameters for r in flow_runs]) + repr([a.data for a in artifacts])

    assert password not in asyncio.run(records())
    assert UUID(run_id.group(1))


async def test_two_loads_of_one_account_never_interleave(engine):
    """The second load waits for the first's transaction, then sees its rows as its own."""
    import asyncio

    listed = asyncio.Event()
    release = asyncio.Event()

    def held_pages(segment_ids):
        async def walk():
            async for page in pages_of({"s1": ["a", "b", "c"]})(segment_ids):
                yield page
            listed.set()
            await release.wait()  # the first load stays inside its transaction

        return walk()

    async def first_load():
        return await load_account(
            engine,
            account="shop",
            segments=[segment("s1", "VIP", 3)],
            member_pages=held_pages,
            options=LoadOptions(members=("s1",)),
        )

    first = asyncio.create_task(first_load())
    await asyncio.wait_for(listed.wait(), 30)
    second = asyncio.create_task(load(engine, [segment("s1", "VIP", 3)], {"s1": ["a", "b", "c"]}))
    await asyncio.sleep(1.0)
    assert not second.done(), "the second load ran inside the first one's transaction"
    release.set()
    assert (await first).joins == 3
    assert (await second).joins == 0  # it saw the first load's rows, committed


def test_a_connector_block_keeps_the_password_out_of_the_run(
    database_url, postgres_cluster, prefect_harness, sandbox_account, monkeypatch
):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect_sqlalchemy import ConnectionComponents, SqlAlchemyConnector

    from prefect_botpenguin.flows.load import segments_load
    from prefect_botpenguin.sandbox import SandboxServer

    password = postgres_cluster.password
    block = SqlAlchemyConnector(
        connection_info=ConnectionComponents(
            driver="postgresql+psycopg2",  # the block takes sync drivers; the load swaps it
            username="postgres",
            password=password,
            host="127.0.0.1",
            port=postgres_cluster.port,
            database=database_url.rsplit("/", 1)[1],
        )
    )
    block.save("warehouse-e2e", overwrite=True)
    with SandboxServer() as server:
        monkeypatch.setenv("BOTPENGUIN_BASE_URL", server.url)
        monkeypatch.setenv("BOTPENGUIN_API_TOKEN", server.token)
        result = asyncio.run(
            segments_load(database_block=SqlAlchemyConnector.load("warehouse-e2e"), members=["all"])
        )
    assert result.joins > 0

    async def parameters() -> str:
        async with get_client() as client:
            run = await client.read_flow_run(UUID(result.flow_run_id))
        return repr(run.parameters)

    recorded = asyncio.run(parameters())
    assert password not in recorded
    assert "block_document_id" in recorded  # a reference to the block, as the form makes
