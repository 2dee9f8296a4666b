"""Shard reports and manifests round-trip through every kind of export destination."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.filesystems import LocalFileSystem, RemoteFileSystem

from prefect_botpenguin.core.errors import ExportError
from prefect_botpenguin.core.shards import ShardAccount, ShardReport
from prefect_botpenguin.shard_files import read_text, write_json

REPORT = ShardReport(
    run_key="run-1",
    shard=2,
    attempt=2,
    accounts=[ShardAccount(label="Tea", segment_count=3, files=["out/tea.csv"])],
)


@pytest.mark.parametrize("where", ["path", "url", "local-block"])
async def test_a_report_written_beside_the_export_reads_back_the_same(
    tmp_path: Path, where: str
) -> None:
    location = {
        "path": str(tmp_path / "_shards" / "r.json"),
        "url": f"file://{tmp_path}/_shards/r.json",
        "local-block": "_shards/r.json",
    }[where]
    filesystem = LocalFileSystem(basepath=str(tmp_path)) if where == "local-block" else None

    await write_json(REPORT, location, filesystem, "the shard report")

    assert ShardReport.model_validate_json(await read_text(location, filesystem)) == REPORT
    assert [p.name for p in (tmp_path / "_shards").iterdir()] == ["r.json"], "no temp file left"


async def test_a_report_on_a_remote_file_system_block_reads_back_the_same() -> None:
    filesystem = RemoteFileSystem(basepath="memory://botpenguin-shard-files")

    await write_json(REPORT, "_shards/r.json", filesystem, "the shard report")

    assert ShardReport.model_validate_json(await read_text("_shards/r.json", filesystem)) == REPORT


async def test_a_missing_report_is_an_error_not_an_empty_report(tmp_path: Path) -> None:
    with pytest.raises((FileNotFoundError, ExportError)):
        await read_text(str(tmp_path / "nothing.json"), None)
