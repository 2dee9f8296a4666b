"""Exports must hold every segment and field, in every format, and never half-replace a file."""

from __future__ import annotations

import csv
import errno
import importlib.util
import io
import json
import os
import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem as FsspecLocalFileSystem
from prefect.filesystems import LocalFileSystem, RemoteFileSystem, WritableFileSystem
from pydantic import Field

from prefect_botpenguin.core.errors import ExportError
from prefect_botpenguin.core.formats import format_for, serialise
from prefect_botpenguin.core.models import Segment, parse_segments
from prefect_botpenguin.exports import write_export
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS

SEGMENTS = parse_segments(SAMPLE_SEGMENTS)
PREVIOUS = b"id,name\r\nprevious,export\r\n"
DOCUMENTED = {"_id": "id", "segmentName": "name", "_customer": "customer_id"}


def expected_record(raw: dict[str, Any]) -> dict[str, Any]:
    """What an export must hold for one API segment, written out independently of the code."""
    record = {"id": raw["_id"], "name": raw["segmentName"], "customer_id": raw["_customer"]}
    record.update({k: v for k, v in raw.items() if k not in DOCUMENTED})
    return record


EXPECTED = [expected_record(raw) for raw in SAMPLE_SEGMENTS]
OTHER_FIELDS = sorted({k for raw in SAMPLE_SEGMENTS for k in raw} - set(DOCUMENTED))
COLUMNS = ["id", "name", "customer_id", *OTHER_FIELDS]


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def with_previous_export(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PREVIOUS)
    return path


# -- the tricky sample round-trips in each format -------------------------------------------


def test_sample_is_tricky_enough_to_prove_something() -> None:
    names = [raw["segmentName"] for raw in SAMPLE_SEGMENTS]
    assert any(not name.isascii() for name in names)
    assert any(all(c in name for c in ',"\n') for name in names)
    assert "archivedReason" in SAMPLE_SEGMENTS[-1]
    assert sum("archivedReason" in raw for raw in SAMPLE_SEGMENTS) == 1, "only the last has it"
    assert any(isinstance(raw.get("stats"), dict) for raw in SAMPLE_SEGMENTS)


async def test_csv_round_trips_every_segment_and_field(tmp_path: Path) -> None:
    result = await write_export(SEGMENTS, tmp_path / "segments.csv")

    assert (result.format, result.count) == ("csv", len(SAMPLE_SEGMENTS))
    raw = (tmp_path / "segments.csv").read_bytes()
    assert result.size_bytes == len(raw)
    assert "São Paulo".encode() in raw  # UTF-8 ...
    assert not raw.startswith(b"\xef\xbb\xbf")  # ... without a byte-order mark
    with open(tmp_path / "segments.csv", encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == COLUMNS, "id, name, customer_id, then the rest sorted"
    assert len(rows) == 1 + len(EXPECTED)
    for row, expected in zip(rows[1:], EXPECTED, strict=True):
        for column, cell in zip(COLUMNS, row, strict=True):
            value = expected.get(column)
            if value is None:
                assert cell == "", column
            elif isinstance(value, str):
                assert cell == value, column  # commas, quotes and newlines survive
            else:
                assert json.loads(cell) == value, column  # numbers, booleans, nested objects
    assert rows[-1][COLUMNS.index("archivedReason")] == SAMPLE_SEGMENTS[-1]["archivedReason"]
    assert rows[1][COLUMNS.index("isActive")] == "true"


async def test_json_round_trips_with_native_types(tmp_path: Path) -> None:
    await write_export(SEGMENTS, tmp_path / "segments.json")

    records = json.loads((tmp_path / "segments.json").read_text(encoding="utf-8"))
    assert records == EXPECTED
    assert [list(r)[:3] for r in records] == [["id", "name", "customer_id"]] * len(records)
    assert "archivedReason" not in records[0], "a field a segment lacks stays absent"


async def test_jsonl_writes_one_record_per_line(tmp_path: Path) -> None:
    await write_export(SEGMENTS, tmp_path / "segments.jsonl")

    lines = (tmp_path / "segments.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == EXPECTED


async def test_parquet_round_trips_with_a_schema_from_all_rows(tmp_path: Path) -> None:
    await write_export(SEGMENTS, tmp_path / "segments.parquet")

    table = pq.read_table(tmp_path / "segments.parquet")
    assert table.column_names == COLUMNS
    schema = table.schema
    assert schema.field("contactCount").type == pa.int64()
    assert schema.field("isActive").type == pa.bool_()
    assert schema.field("archivedReason").type == pa.string()
    json_columns = {f.name for f in schema if (f.metadata or {}).get(b"encoding") == b"json"}
    assert json_columns == {"filters", "stats"}
    assert all(f.nullable for f in schema)
    for row, expected in zip(table.to_pylist(), EXPECTED, strict=True):
        decoded = {
            k: json.loads(v) if k in json_columns and v is not None else v for k, v in row.items()
        }
        assert decoded == {column: expected.get(column) for column in COLUMNS}


def test_parquet_types_a_column_from_every_row_not_the_first() -> None:
    segments = [
        Segment.model_validate({"_id": "a", "ratio": 1, "mixed": "x", "late": None, "big": 1}),
        Segment.model_validate({"_id": "b", "ratio": 2.5, "mixed": 3, "late": True, "big": 2**63}),
    ]

    table = pq.read_table(io.BytesIO(serialise(segments, "parquet")))

    assert table.schema.field("ratio").type == pa.float64()
    assert table.column("ratio").to_pylist() == [1.0, 2.5]
    assert table.schema.field("late").type == pa.bool_()
    assert table.column("late").to_pylist() == [None, True]
    # Incompatible or too large for any numeric type: JSON text, losslessly decodable.
    assert table.column("mixed").to_pylist() == ['"x"', "3"]
    assert [json.loads(v) for v in table.column("big").to_pylist()] == [1, 2**63]


def test_no_segments_still_writes_a_header_and_a_schema() -> None:
    assert serialise([], "csv") == b"id,name,customer_id\r\n"
    assert json.loads(serialise([], "json")) == []
    assert serialise([], "jsonl") == b""
    assert pq.read_table(io.BytesIO(serialise([], "parquet"))).column_names == [
        "id",
        "name",
        "customer_id",
    ]


# -- choosing the format ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        ("out/segments.csv", "csv"),
        ("SEGMENTS.JSON", "json"),
        ("s3://bucket/a.b/segments.jsonl", "jsonl"),
        ("memory://x/segments.ndjson", "jsonl"),
        (Path("exports") / "segments.parquet", "parquet"),
    ],
)
def test_format_comes_from_the_extension(destination: str | Path, expected: str) -> None:
    assert format_for(destination) == expected


async def test_explicit_format_wins_over_the_extension(tmp_path: Path) -> None:
    result = await write_export(SEGMENTS, tmp_path / "segments.txt", format="jsonl")
    assert result.format == "jsonl"
    assert len((tmp_path / "segments.txt").read_text(encoding="utf-8").splitlines()) == 6


async def test_unknown_extension_is_a_one_line_error_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"'segments\.txt'.*\.csv, \.json, \.jsonl or \.parquet"):
        await write_export(SEGMENTS, tmp_path / "segments.txt")
    with pytest.raises(ExportError) as caught:
        format_for("segments")
    assert "\n" not in str(caught.value)
    assert listing(tmp_path) == []


# -- atomicity: a failure anywhere leaves the previous export byte-identical ------------------


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Let the kernel refuse writes past ``limit`` bytes (EFBIG): a real mid-write failure."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_handler)


async def test_write_failing_midway_keeps_previous_export_and_leaves_no_temp_file(
    tmp_path: Path,
) -> None:
    target = with_previous_export(tmp_path / "segments.csv")
    half = len(serialise(SEGMENTS, "csv")) // 2

    with file_size_limit(half), pytest.raises(ExportError, match="too large") as caught:
        await write_export(SEGMENTS, target)

    assert isinstance(caught.value.__cause__, OSError)
    assert caught.value.__cause__.errno == errno.EFBIG
    assert target.read_bytes() == PREVIOUS
    assert listing(tmp_path) == ["segments.csv"]


async def test_failed_rename_keeps_previous_export_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = with_previous_export(tmp_path / "segments.parquet")
    seen: list[str] = []

    def refuse(src: str | Path, dst: str | Path) -> None:
        seen.append(Path(src).name)
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ExportError, match="Permission denied"):
        await write_export(SEGMENTS, target)

    assert len(seen) == 1
    assert seen[0].startswith(".segments.parquet.tmp-"), "hidden, and clearly temporary"
    assert target.read_bytes() == PREVIOUS
    assert listing(tmp_path) == ["segments.parquet"]


async def test_value_that_cannot_be_serialised_fails_before_anything_is_written(
    tmp_path: Path,
) -> None:
    target = with_previous_export(tmp_path / "segments.json")
    bad = [*SEGMENTS, Segment.model_validate({"_id": "odd", "weight": float("nan")})]

    for fmt in ("csv", "json", "jsonl", "parquet"):
        with pytest.raises(ExportError, match="Segment 'odd' field 'weight'"):
            await write_export(bad, target, format=fmt)

    assert target.read_bytes() == PREVIOUS
    assert listing(tmp_path) == ["segments.json"]


async def test_a_directory_is_not_a_destination(tmp_path: Path) -> None:
    (tmp_path / "out.csv").mkdir()
    with pytest.raises(ExportError, match="is a directory"):
        await write_export(SEGMENTS, tmp_path / "out.csv")
    assert listing(tmp_path / "out.csv") == []


async def test_missing_parent_directories_are_created(tmp_path: Path) -> None:
    result = await write_export(SEGMENTS, tmp_path / "a" / "b" / "segments.csv")
    assert result.destination == str(tmp_path / "a" / "b" / "segments.csv")
    assert result.url == (tmp_path / "a" / "b" / "segments.csv").as_uri()


# -- fsspec URLs -------------------------------------------------------------------------------


async def test_memory_url_destination_is_written_and_replaced_whole() -> None:
    url = "memory://exports-test/segments.jsonl"
    first = await write_export(SEGMENTS[:2], url)
    second = await write_export(SEGMENTS, url)

    with fsspec.open(url, "rb") as file:
        lines = file.read().decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == EXPECTED
    assert (first.count, second.count) == (2, 6)
    assert second.destination == second.url == url
    fs = fsspec.filesystem("memory")
    assert fs.ls("/exports-test", detail=False) == ["/exports-test/segments.jsonl"]


async def test_memory_url_keeps_previous_export_when_serialising_fails() -> None:
    url = "memory://exports-test/keep.csv"
    with fsspec.open(url, "wb") as file:
        file.write(PREVIOUS)
    bad = [Segment.model_validate({"_id": "odd", "when": object()})]

    with pytest.raises(ExportError, match="not JSON data"):
        await write_export(bad, url)

    with fsspec.open(url, "rb") as file:
        assert file.read() == PREVIOUS


async def test_file_url_moves_a_temp_file_into_place(tmp_path: Path) -> None:
    await write_export(SEGMENTS, f"file://{tmp_path}/segments.csv")

    assert listing(tmp_path) == ["segments.csv"]
    assert (tmp_path / "segments.csv").read_bytes() == serialise(SEGMENTS, "csv")


async def test_file_url_failed_move_keeps_previous_export_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = with_previous_export(tmp_path / "segments.csv")

    def refuse(self: object, path1: str, path2: str, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(FsspecLocalFileSystem, "mv", refuse)
    with pytest.raises(ExportError, match="Invalid cross-device link"):
        await write_export(SEGMENTS, f"file://{target}")

    assert target.read_bytes() == PREVIOUS
    assert listing(tmp_path) == ["segments.csv"]


async def test_unknown_protocol_is_a_one_line_error() -> None:
    with pytest.raises(ExportError, match="Protocol not known: nope"):
        await write_export(SEGMENTS, "nope://bucket/segments.csv")


async def test_missing_fsspec_backend_says_what_to_install() -> None:
    # s3fs is a dev dependency (the S3 tests), so a back-end no one here installs stands in:
    # the message is fsspec's own "Install ..." for whichever protocol it is.
    assert importlib.util.find_spec("ocifs") is None, "pick a back-end that is not installed"
    with pytest.raises(ExportError) as caught:
        await write_export(SEGMENTS, "oci://bucket/segments.csv")
    assert str(caught.value) == (
        "Cannot export to oci://bucket/segments.csv: the fsspec back-end for it is "
        "not installed (Install ocifs to access OCI Object Storage)."
    )


async def test_credentials_in_a_url_never_reach_the_error_message() -> None:
    with pytest.raises(ExportError) as caught:
        await write_export(SEGMENTS, "ftp://alice:s3cr3t-pass@127.0.0.1:1/segments.csv")
    assert "s3cr3t-pass" not in str(caught.value)
    assert "ftp://127.0.0.1:1/segments.csv" in str(caught.value)
    assert "\n" not in str(caught.value)


# -- Prefect filesystem blocks ---------------------------------------------------------------


async def test_local_filesystem_block_writes_under_its_basepath(tmp_path: Path) -> None:
    block = LocalFileSystem(basepath=str(tmp_path))

    result = await write_export(SEGMENTS, "exports/segments.csv", filesystem=block)

    target = tmp_path / "exports" / "segments.csv"
    assert result.destination == str(target)
    assert target.read_bytes() == serialise(SEGMENTS, "csv")
    assert listing(target.parent) == ["segments.csv"]


async def test_local_filesystem_block_write_failure_keeps_previous_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = with_previous_export(tmp_path / "segments.json")

    def refuse(src: str | Path, dst: str | Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ExportError, match="No space left on device"):
        await write_export(
            SEGMENTS, "segments.json", filesystem=LocalFileSystem(basepath=str(tmp_path))
        )

    assert target.read_bytes() == PREVIOUS
    assert listing(tmp_path) == ["segments.json"]


async def test_local_filesystem_block_refuses_paths_outside_its_basepath(tmp_path: Path) -> None:
    block = LocalFileSystem(basepath=str(tmp_path / "inside"))
    with pytest.raises(ExportError, match="outside of the base path"):
        await write_export(SEGMENTS, "../escaped.csv", filesystem=block)
    assert listing(tmp_path) == []


async def test_remote_filesystem_block_writes_through_fsspec() -> None:
    block = RemoteFileSystem(basepath="memory://block-exports/base")

    result = await write_export(SEGMENTS, "segments.json", filesystem=block)

    assert result.destination == "memory://block-exports/base/segments.json"
    assert result.asset_key == "memory://block-exports/base/segments.json"
    with fsspec.open(result.destination, "rb") as file:
        assert json.loads(file.read()) == EXPECTED


class _InMemoryFileSystem(WritableFileSystem):
    """A third-party-style block that only offers read_path/write_path."""

    _block_type_slug = "test-in-memory-file-system"
    files: dict[str, bytes] = Field(default_factory=dict)

    async def read_path(self, path: str) -> bytes:
        return self.files[path]

    async def write_path(self, path: str, content: bytes) -> None:
        self.files[path] = content


async def test_other_filesystem_blocks_get_the_whole_file_in_one_write_path_call() -> None:
    block = _InMemoryFileSystem(files={})

    result = await write_export(SEGMENTS, "deep/segments.parquet", filesystem=block)

    assert list(block.files) == ["deep/segments.parquet"]
    table = pq.read_table(io.BytesIO(block.files["deep/segments.parquet"]))
    assert table.column("id").to_pylist() == [raw["_id"] for raw in SAMPLE_SEGMENTS]
    assert result.size_bytes == len(block.files["deep/segments.parquet"])
    assert result.asset_key == "block://test-in-memory-file-system/unsaved/deep/segments.parquet"
