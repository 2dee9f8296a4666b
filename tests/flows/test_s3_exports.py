"""Exports to ``s3://`` through a real S3 API: moto's server on loopback, reached by s3fs.

The README and docs/scale-out.md promise ``s3://`` destinations; ``memory://`` proves the
fsspec code path, these prove the S3 one (PUTs, listings, a manifest the parent reads back).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import uuid
from collections.abc import Callable

import pyarrow.parquet as pq
import pytest
from moto_s3 import S3Bucket

from prefect_botpenguin.core.accounts import account_slug
from prefect_botpenguin.core.atomic import fsspec_file_replacement, replace_fsspec_file
from prefect_botpenguin.core.errors import AuthenticationError, ExportError, ResponseError
from prefect_botpenguin.core.formats import serialise
from prefect_botpenguin.core.models import parse_segments
from prefect_botpenguin.core.shards import Manifest
from prefect_botpenguin.flows.export import segments_export
from prefect_botpenguin.flows.fanout import segments_fanout
from prefect_botpenguin.flows.watch import segments_watch
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS, Fault, SandboxServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

TOKEN = "5e3b0c7a11ce5b0d15ea5e00"
SAMPLE_IDS = [raw["_id"] for raw in SAMPLE_SEGMENTS]


def complete_export(fmt: str) -> bytes:
    return serialise(parse_segments(SAMPLE_SEGMENTS), fmt)  # type: ignore[arg-type]


async def test_parquet_export_lands_in_the_bucket_and_reads_back(
    account: SandboxServer, s3_bucket: S3Bucket
) -> None:
    result = await segments_export(destination=s3_bucket.url("exports/segments.parquet"))

    assert (result.count, result.format) == (6, "parquet")
    assert result.destination == s3_bucket.url("exports/segments.parquet")
    assert s3_bucket.object_keys() == ["exports/segments.parquet"]
    table = pq.read_table(io.BytesIO(s3_bucket.read("exports/segments.parquet")))
    assert table.column("id").to_pylist() == SAMPLE_IDS
    assert table.equals(pq.read_table(io.BytesIO(complete_export("parquet"))), check_metadata=True)
    # pyarrow reading through s3fs itself, as a user's notebook would
    with s3_bucket.fs.open(f"{s3_bucket.name}/exports/segments.parquet", "rb") as file:
        assert pq.read_table(file).num_rows == 6


async def test_csv_export_lands_in_the_bucket_with_every_segment(
    account: SandboxServer, s3_bucket: S3Bucket
) -> None:
    await segments_export(destination=s3_bucket.url("segments.csv"))

    data = s3_bucket.read("segments.csv")
    assert data == complete_export("csv")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert [row["id"] for row in rows] == SAMPLE_IDS
    assert s3_bucket.object_keys() == ["segments.csv"]


async def test_an_export_replaces_the_previous_object(
    account: SandboxServer, s3_bucket: S3Bucket
) -> None:
    s3_bucket.put("segments.csv", b"id,name\r\nprevious,export\r\n")

    await segments_export(destination=s3_bucket.url("segments.csv"))

    assert s3_bucket.read("segments.csv") == complete_export("csv")
    assert s3_bucket.object_keys() == ["segments.csv"]


PREVIOUS = b"id,name\r\nprevious,export\r\n"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_a_wrong_token_leaves_the_previous_object_and_no_temp_object(
    account: SandboxServer,
    s3_bucket: S3Bucket,
    monkeypatch: pytest.MonkeyPatch,
    debug_logs: pytest.LogCaptureFixture,
    fmt: str,
) -> None:
    key = f"nightly/segments.{fmt}"
    s3_bucket.put(key, PREVIOUS)
    wrong = "0badc0ffee0badc0ffee0bad"
    monkeypatch.setenv("BOTPENGUIN_API_TOKEN", wrong)

    with pytest.raises(AuthenticationError) as caught:
        await segments_export(destination=s3_bucket.url(key))

    assert s3_bucket.read(key) == PREVIOUS
    assert s3_bucket.object_keys() == [key]  # no ".segments.csv.tmp-..." or spool object beside it
    assert wrong not in str(caught.value)
    assert wrong not in debug_logs.text
    assert TOKEN not in debug_logs.text


async def test_a_malformed_answer_leaves_the_previous_object_and_no_temp_object(
    account: SandboxServer, s3_bucket: S3Bucket
) -> None:
    s3_bucket.put("segments.json", PREVIOUS)
    account.inject(Fault.malformed())

    with pytest.raises(ResponseError, match="not JSON"):
        await segments_export(destination=s3_bucket.url("segments.json"))

    assert s3_bucket.read("segments.json") == PREVIOUS
    assert s3_bucket.object_keys() == ["segments.json"]


async def test_an_export_to_a_missing_bucket_fails_and_creates_no_bucket(
    account: SandboxServer, s3_bucket: S3Bucket
) -> None:
    typo = f"{s3_bucket.name}-typo"

    with pytest.raises(ExportError) as caught:
        await segments_export(destination=f"s3://{typo}/nightly/segments.csv")

    assert f"s3://{typo}/nightly/segments.csv" in str(caught.value)
    assert "bucket does not exist" in str(caught.value)
    assert "\n" not in str(caught.value)
    s3_bucket.fs.invalidate_cache()
    assert s3_bucket.fs.ls("", detail=False) == [s3_bucket.name]  # no bucket made for the typo


def write(fs: object, path: str, *, streamed: bool) -> None:
    """The pack's atomic write of ``path``, whole or streamed bit by bit."""
    if streamed:
        with fsspec_file_replacement(fs, path) as file:
            file.write(b"da")
            file.write(b"ta")
    else:
        replace_fsspec_file(fs, path, b"data")


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("key", ["segments.csv", "deep/er/segments.csv"])
def test_the_atomic_writers_never_create_a_bucket(
    s3_bucket: S3Bucket, streamed: bool, key: str
) -> None:
    typo = f"{s3_bucket.name}-typo"

    with pytest.raises(FileNotFoundError):
        write(s3_bucket.fs, f"{typo}/{key}", streamed=streamed)

    s3_bucket.fs.invalidate_cache()
    assert s3_bucket.fs.ls("", detail=False) == [s3_bucket.name]
    # the bucket that exists still gets the object, its "folders" included
    write(s3_bucket.fs, f"{s3_bucket.name}/{key}", streamed=streamed)
    assert s3_bucket.object_keys() == [key]
    assert s3_bucket.read(key) == b"data"


async def test_sharded_fanout_writes_each_account_and_the_manifest_to_the_bucket(
    partner_sandbox: Callable[[int, float], SandboxServer], s3_bucket: S3Bucket
) -> None:
    partner = partner_sandbox(3, 0.0)

    state = await segments_fanout(
        partner_from_env=True,
        shards=2,
        export=s3_bucket.url("fanout/{account}.parquet"),
        return_state=True,
    )
    summary = await state.result()

    labels = sorted(a.label for a in summary.accounts)
    assert labels == [f"Sample Customer 000{n}" for n in (1, 2, 3)]
    expected = [f"fanout/sample-customer-000{n}.parquet" for n in (1, 2, 3)]
    manifest = Manifest.model_validate_json(s3_bucket.read("fanout/_manifest.json"))
    reports = [f"fanout/_shards/{manifest.run_key}/shard-{n}.json" for n in (0, 1)]
    # exactly these: no temp object (".NAME.tmp-...") or spool file left anywhere
    assert s3_bucket.object_keys() == sorted([*expected, "fanout/_manifest.json", *reports])

    assert sorted(e.label for e in manifest.accounts) == labels  # every account once
    assert {e.shard for e in manifest.accounts} == {0, 1}
    assert not manifest.failed
    assert sorted(f for e in manifest.accounts for f in e.files) == [
        s3_bucket.url(key) for key in expected
    ]
    for number, key in enumerate(expected):
        table = pq.read_table(io.BytesIO(s3_bucket.read(key)))
        assert table.num_rows > 0
        assert set(table.column("customer_id").to_pylist()) == {partner.customers[number]["_id"]}
    manifest_text = s3_bucket.read("fanout/_manifest.json").decode()
    for token in [*partner.account_tokens, partner.partner_token or "-"]:
        assert token not in manifest_text


async def test_watch_keeps_its_state_in_the_bucket_and_a_failed_fetch_leaves_it(
    account: SandboxServer, s3_bucket: S3Bucket
) -> None:
    name = f"Larkspur {uuid.uuid4().hex[:8]}"
    run = {"account": name, "state": s3_bucket.url("botpenguin")}
    snapshot = f"botpenguin/{account_slug(name)}.json"

    assert (await segments_watch(**run)).baseline
    assert json.loads(s3_bucket.read(snapshot))["segments"] == SAMPLE_SEGMENTS
    renamed = copy.deepcopy(SAMPLE_SEGMENTS)
    renamed[0]["segmentName"] = "VIP tea circle"
    account.set_segments(renamed, token=TOKEN)
    assert (await segments_watch(**run)).changed, "the second run compared with the bucket's"
    kept = {key: s3_bucket.read(key) for key in s3_bucket.object_keys()}
    assert snapshot in kept
    assert json.loads(kept[snapshot])["segments"] == renamed

    account.inject(Fault.status_code(401))
    with pytest.raises(AuthenticationError):
        await segments_watch(**run)

    assert {key: s3_bucket.read(key) for key in s3_bucket.object_keys()} == kept
