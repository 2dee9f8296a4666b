"""Member exports: every format streamed page by page, atomically, within a page's memory."""

from __future__ import annotations

import csv
import gc
import io
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import fsspec
import pyarrow.parquet as pq
import pytest
from prefect import flow
from prefect.filesystems import LocalFileSystem
from prefect_readback import latest_artifact

from prefect_botpenguin.core.client import BotPenguinClient
from prefect_botpenguin.core.errors import ExportError, ResponseError, ServerError
from prefect_botpenguin.core.member_files import record_writer
from prefect_botpenguin.core.members import Contact
from prefect_botpenguin.core.retry import RetryPolicy
from prefect_botpenguin.flows.members import segments_members_export
from prefect_botpenguin.members import (
    SegmentMembers,
    fetch_segment_members,
    members_artifact_key,
    write_members_export,
)
from prefect_botpenguin.sandbox import (
    SAMPLE_CONTACTS,
    SAMPLE_MEMBERSHIP,
    SAMPLE_SEGMENTS,
    Fault,
    GeneratedAudience,
    SandboxServer,
)
from prefect_botpenguin.sandbox.data import generated_contact

pytestmark = pytest.mark.integration
BOTPENGUIN = str(Path(sys.executable).with_name("botpenguin"))
FAST = RetryPolicy(max_attempts=2, backoff_base=0, backoff_cap=0, deadline=5)
VIP = SAMPLE_SEGMENTS[0]["_id"]
BY_ID = {contact["_id"]: contact for contact in SAMPLE_CONTACTS}
MEMBERSHIPS = sum(len(ids) for ids in SAMPLE_MEMBERSHIP.values())


def expected_records() -> list[dict[str, Any]]:
    return [
        Contact.model_validate(BY_ID[contact_id]).to_record(segment_id)
        for segment_id, ids in SAMPLE_MEMBERSHIP.items()
        for contact_id in ids
    ]


async def export(sandbox: SandboxServer, destination: Path | str, **options: Any) -> Any:
    async with BotPenguinClient(sandbox.token, base_url=sandbox.url, retry_policy=FAST) as api:
        return await write_members_export(api, destination, **options)


def read_parquet(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def from_table(row: dict[str, Any], json_columns: set[str]) -> dict[str, Any]:
    """A CSV/Parquet row back as a record: JSON columns decoded, ``extra`` spread out."""
    record = {}
    for key, value in row.items():
        if key == "extra":
            record.update(json.loads(value) if value else {})
        elif value not in (None, ""):
            record[key] = json.loads(value) if key in json_columns else value
    return record


@pytest.fixture
def small_pages():
    with SandboxServer(member_page_size=2) as sandbox:
        yield sandbox


@pytest.mark.parametrize("suffix", ["json", "jsonl"])
async def test_json_exports_hold_every_member_of_every_segment_with_every_field(
    small_pages: SandboxServer, tmp_path: Path, suffix: str
) -> None:
    result = await export(small_pages, tmp_path / f"members.{suffix}")

    text = (tmp_path / f"members.{suffix}").read_text(encoding="utf-8")
    records = json.loads(text) if suffix == "json" else [json.loads(x) for x in text.splitlines()]
    assert records == expected_records()
    assert result.count == MEMBERSHIPS == len(records)
    assert result.segments == {s: len(ids) for s, ids in SAMPLE_MEMBERSHIP.items()}
    assert result.size_bytes == len(text.encode())


async def test_csv_takes_columns_from_the_first_page_and_keeps_later_fields_in_extra(
    small_pages: SandboxServer, tmp_path: Path
) -> None:
    await export(small_pages, tmp_path / "members.csv")

    with (tmp_path / "members.csv").open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    first_page = [BY_ID[i] for i in SAMPLE_MEMBERSHIP[VIP][:2]]
    columns = sorted({k for c in first_page for k in c} - {"_id"})
    assert list(rows[0]) == ["segment_id", "id", *columns, "extra"]
    json_columns = {"attributes", "tags", "orderCount"}
    records = [from_table(row, json_columns) for row in rows]
    assert records == [
        {k: v for k, v in r.items() if v is not None and v != ""} for r in expected_records()
    ]
    assert any(json.loads(row["extra"]).get("orderCount") == 7 for row in rows if row["extra"])


async def test_parquet_is_typed_from_the_first_page_and_keeps_misfits_in_extra(
    tmp_path: Path,
) -> None:
    contacts = [
        {"_id": "1", "name": "Sample A", "score": 1, "tags": ["a"]},
        {"_id": "2", "name": "Sample B", "score": 2},
        {"_id": "3", "name": "Sample C", "score": "high", "newField": {"x": 1}},
    ]
    with io.BytesIO() as file:
        writer = record_writer("parquet", file)
        for page in (contacts[:2], contacts[2:]):
            writer.write([Contact.model_validate(c).to_record("s1") for c in page])
        writer.close()
        data = file.getvalue()
    table = pq.read_table(io.BytesIO(data))

    assert table.schema.field("score").type == "int64"
    assert table.schema.field("tags").metadata == {b"encoding": b"json"}
    assert pq.ParquetFile(io.BytesIO(data)).num_row_groups == 2  # one per page
    rows = table.to_pylist()
    assert rows[2]["score"] is None
    assert json.loads(rows[2]["extra"]) == {"score": "high", "newField": {"x": 1}}
    assert rows[0]["extra"] is None


async def test_the_parquet_export_holds_every_membership_with_its_segment_id(
    small_pages: SandboxServer, tmp_path: Path
) -> None:
    await export(small_pages, tmp_path / "members.parquet")
    rows = read_parquet(tmp_path / "members.parquet")
    assert [(r["segment_id"], r["id"]) for r in rows] == [
        (r["segment_id"], r["id"]) for r in expected_records()
    ]
    assert {r["name"] for r in rows} == {
        BY_ID[i]["name"] for ids in SAMPLE_MEMBERSHIP.values() for i in ids
    }


async def test_fields_keep_only_the_chosen_contact_fields(
    small_pages: SandboxServer, tmp_path: Path
) -> None:
    await export(small_pages, tmp_path / "m.jsonl", segment_ids=[VIP], fields=["email", "id"])
    records = [json.loads(x) for x in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert records == [
        {"segment_id": VIP, "id": i, "email": BY_ID[i].get("email")} for i in SAMPLE_MEMBERSHIP[VIP]
    ]
    await export(small_pages, tmp_path / "m.csv", segment_ids=[VIP], fields=["phone"])
    header = (tmp_path / "m.csv").read_text().splitlines()[0]
    assert header == "segment_id,id,phone,extra"


async def test_segment_id_in_the_destination_writes_one_file_per_segment(
    small_pages: SandboxServer, tmp_path: Path
) -> None:
    result = await export(small_pages, tmp_path / "by-segment" / "{segment_id}.jsonl")

    assert len(result.files) == len(SAMPLE_SEGMENTS)
    for segment_id, ids in SAMPLE_MEMBERSHIP.items():
        lines = (tmp_path / "by-segment" / f"{segment_id}.jsonl").read_text().splitlines()
        assert [json.loads(line)["id"] for line in lines] == ids
    assert result.destination.endswith("{segment_id}.jsonl")


async def test_an_empty_segment_still_gets_a_file_with_its_columns(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    lapsed = SAMPLE_SEGMENTS[5]["_id"]
    for suffix in ("csv", "json", "jsonl", "parquet"):
        result = await export(sandbox, tmp_path / f"empty.{suffix}", segment_ids=[lapsed])
        assert result.count == 0
    assert (tmp_path / "empty.csv").read_text().strip() == "segment_id,id,extra"
    assert json.loads((tmp_path / "empty.json").read_text()) == []
    assert (tmp_path / "empty.jsonl").read_bytes() == b""
    assert pq.read_table(tmp_path / "empty.parquet").num_rows == 0


@pytest.mark.parametrize("url", ["memory://members/out.jsonl", "file://{tmp}/fsspec/out.jsonl"])
async def test_fsspec_destinations_get_the_whole_stream(
    small_pages: SandboxServer, tmp_path: Path, url: str
) -> None:
    url = url.format(tmp=tmp_path)
    result = await export(small_pages, url)
    fs, path = fsspec.core.url_to_fs(url)
    assert len(fs.cat_file(path).splitlines()) == result.count == MEMBERSHIPS
    siblings = fs.ls(path.rpartition("/")[0], detail=False)
    assert [s for s in siblings if ".tmp-" in s] == []


async def test_a_page_failing_mid_listing_leaves_the_previous_export_and_no_temp_file(
    small_pages: SandboxServer, tmp_path: Path
) -> None:
    target = tmp_path / "members.parquet"
    await export(small_pages, target)
    before = (target.read_bytes(), target.stat().st_ino)
    small_pages.inject(Fault(), Fault(), Fault(), *[Fault.status_code(503)] * 5)

    with pytest.raises(ServerError):
        await export(small_pages, target)

    assert (target.read_bytes(), target.stat().st_ino) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["members.parquet"]


async def test_a_directory_as_destination_is_one_clear_error(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(ExportError, match="it is a directory"):
        await export(sandbox, tmp_path / "dir.csv")


@pytest.mark.parametrize("format", ["jsonl", "parquet"])
async def test_memory_is_bounded_by_the_page_not_by_the_audience(
    tmp_path: Path, format: str
) -> None:
    members, page_size = 8_000, 80
    segment = "5e9000000000000000000001"

    gc.collect()
    tracemalloc.start()
    everyone = [Contact.model_validate(generated_contact(0, i)) for i in range(members)]
    _, holding_all = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del everyone

    audience = GeneratedAudience([segment], members)
    with SandboxServer(
        accounts={"a" * 24: [{"_id": segment}]},
        members={"a" * 24: audience},
        member_page_size=page_size,
    ) as sandbox:
        async with BotPenguinClient("a" * 24, base_url=sandbox.url, retry_policy=FAST) as api:
            # Warm up: first-use imports and caches are paid once, not per member.
            with pytest.raises(ResponseError, match="page cap"):
                await write_members_export(api, tmp_path / f"warm.{format}", max_pages=1)
            gc.collect()
            tracemalloc.start()
            result = await write_members_export(api, tmp_path / f"big.{format}")
            _, streaming = tracemalloc.get_traced_memory()
            tracemalloc.stop()

    assert result.count == members
    assert streaming < holding_all / 10, f"peak {streaming} B vs {holding_all} B for all"


@pytest.mark.usefixtures("prefect_harness")
async def test_the_flow_exports_members_and_links_them_with_counts_only(
    sandbox_env: SandboxServer, tmp_path: Path
) -> None:
    result = await segments_members_export(
        destination=str(tmp_path / "members.jsonl"), account="members-flow", segments=[VIP]
    )

    assert result.count == len(SAMPLE_MEMBERSHIP[VIP])
    artifact = await latest_artifact(members_artifact_key("members-flow"))
    assert f"{result.count} row(s) from 1 segment(s)" in str(artifact.description)
    assert str(artifact.data).endswith("members.jsonl)")
    for contact_id in SAMPLE_MEMBERSHIP[VIP]:
        assert BY_ID[contact_id]["name"] not in artifact.model_dump_json()


@pytest.mark.usefixtures("prefect_harness")
async def test_fetch_segment_members_returns_counts_and_ids_only_on_request(
    sandbox_env: SandboxServer,
) -> None:
    @flow
    async def count_members() -> tuple[list[SegmentMembers], list[SegmentMembers]]:
        everyone = await fetch_segment_members()
        return everyone, await fetch_segment_members(segment_ids=[VIP], include_ids=True)

    counts, with_ids = await count_members()

    assert {c.segment_id: c.count for c in counts} == {
        s: len(ids) for s, ids in SAMPLE_MEMBERSHIP.items()
    }
    assert all(c.contact_ids is None for c in counts)
    assert [(c.segment_id, c.contact_ids) for c in with_ids] == [(VIP, SAMPLE_MEMBERSHIP[VIP])]


async def test_a_local_file_system_block_receives_the_export_atomically(
    small_pages: SandboxServer, tmp_path: Path
) -> None:
    block = LocalFileSystem(basepath=str(tmp_path / "block"))
    result = await export(small_pages, "exports/members.csv", filesystem=block)

    written = tmp_path / "block" / "exports" / "members.csv"
    assert len(written.read_text(encoding="utf-8").splitlines()) == 1 + MEMBERSHIPS
    assert result.files[0].destination == str(written)
    with pytest.raises(ExportError, match="Cannot export to"):
        await export(small_pages, "../outside.csv", filesystem=block)


@pytest.mark.e2e  # the console script in a second interpreter, on its own ephemeral server
def test_cli_members_sandbox_writes_every_member_of_every_segment(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTPENGUIN_", "PREFECT_"))}
    env.update(PREFECT_HOME=str(tmp_path / "home"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    target = tmp_path / "members.parquet"
    done = subprocess.run(
        [BOTPENGUIN, "members", "--sandbox", "--to", str(target)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    rows = read_parquet(target)
    assert len(rows) == MEMBERSHIPS
    assert sorted((r["segment_id"], r["id"]) for r in rows) == sorted(
        (s, i) for s, ids in SAMPLE_MEMBERSHIP.items() for i in ids
    )
    assert f"Wrote {MEMBERSHIPS} member row(s) of 6 segment(s)" in done.stdout
