"""``segments_load`` and ``botpenguin load`` against the sandbox, into the embedded database.

The sandbox moves invented contacts and renames a segment between two loads; the runs use the
session's Prefect test server, whose records are read back to check what a run keeps.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect_readback import latest_artifact
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from prefect_botpenguin.flows.cli import main
from prefect_botpenguin.flows.load import segments_load
from prefect_botpenguin.sandbox import SAMPLE_MEMBERSHIP, SAMPLE_SEGMENTS, SandboxServer
from prefect_botpenguin.warehouse import load_artifact_key

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

SEGMENTS = list(SAMPLE_MEMBERSHIP)
MEMBERS = sum(len(ids) for ids in SAMPLE_MEMBERSHIP.values())


def contact(n: int) -> str:
    return f"c0ffee00000000000000c0{n:02d}"


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SandboxServer]:
    with SandboxServer(member_page_size=2) as server:
        monkeypatch.setenv("BOTPENGUIN_BASE_URL", server.url)
        monkeypatch.setenv("BOTPENGUIN_API_TOKEN", server.token)
        monkeypatch.setenv("BOTPENGUIN_ACCOUNT", f"load-{tmp_path.name}")  # a lease of its own
        monkeypatch.delenv("BOTPENGUIN_DB_URL", raising=False)
        monkeypatch.chdir(tmp_path)
        yield server


def move(server: SandboxServer, contact_id: str, source: str | None, target: str | None) -> None:
    body = {"contact_id": contact_id, "from": source, "to": target}
    httpx.post(f"{server.url}/_sandbox/members", json=body, timeout=10).raise_for_status()


def query(database: Path, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


async def test_two_loads_record_a_rename_and_the_member_churn(sandbox, tmp_path):
    database = tmp_path / "w.sqlite"
    url = SecretStr(f"sqlite:///{database}")
    first = await segments_load(database=url, members=["all"])
    assert (first.segments_created, first.versions, first.joins) == (6, 6, MEMBERS)

    renamed = copy.deepcopy(SAMPLE_SEGMENTS)
    renamed[0]["segmentName"] = "VIP (renamed)"
    sandbox.set_segments(renamed)
    move(sandbox, contact(5), SEGMENTS[0], SEGMENTS[1])
    second = await segments_load(database=url, members=["all"])

    assert (second.versions, second.joins, second.leaves) == (1, 1, 1)
    names = query(
        database,
        f"SELECT name FROM botpenguin_segment_versions WHERE segment_id = '{SEGMENTS[0]}' "
        "ORDER BY valid_from",
    )
    assert [name for (name,) in names][-1] == "VIP (renamed)"
    open_in_second = query(
        database,
        "SELECT contact_id FROM botpenguin_memberships "
        f"WHERE segment_id = '{SEGMENTS[1]}' AND valid_to IS NULL",
    )
    assert (contact(5),) in open_in_second
    runs = query(database, "SELECT flow_run_id FROM botpenguin_runs ORDER BY loaded_at")
    assert [run for (run,) in runs] == [first.flow_run_id, second.flow_run_id]


async def test_the_run_keeps_no_database_url_and_the_artifact_only_counts(sandbox, tmp_path):
    result = await segments_load(
        database=SecretStr(f"sqlite:///{tmp_path}/w.sqlite"), members=["all"]
    )
    assert result.flow_run_id
    async with get_client() as client:
        run = await client.read_flow_run(UUID(result.flow_run_id))
    assert run.parameters["database"] == "**********"
    artifact = await latest_artifact(load_artifact_key(result.account))
    assert "joins" in artifact.data
    assert contact(5) not in artifact.data  # ids of contacts stay in the database


def test_load_sandbox_writes_the_embedded_database_and_a_repeat_changes_nothing(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("BOTPENGUIN_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["load", "--sandbox", "--members", "all"]) == 0
    first = capsys.readouterr().out
    assert "SAMPLE DATA" in first
    assert f"joins {MEMBERS}" in first
    database = tmp_path / ".botpenguin" / "snapshots" / "warehouse.sqlite"
    assert database.is_file()

    assert main(["load", "--sandbox", "--members", "all"]) == 0
    again = capsys.readouterr().out
    assert "versions 0, sizes 0" in again
    assert "joins 0, leaves 0" in again


def test_a_bad_database_url_is_one_line_before_anything_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["load", "--sandbox", "--db", "mysql://u:hunter2@h/db"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "PostgreSQL and SQLite" in err
    assert "hunter2" not in err
