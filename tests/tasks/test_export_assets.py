"""Exports are Prefect asset materializations: account -> exported file, read back from Prefect.

The flows and tasks run against the sandbox on the session's Prefect test server; the
``prefect.asset.*`` events are read back through the Prefect API, as the UI reads them.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.events import Event
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.filesystems import LocalFileSystem
from prefect_readback import latest_artifact, read_all_events

from prefect_botpenguin.assets import (
    account_asset,
    asset_key,
    block_asset_key,
    file_asset_key,
    url_asset_key,
)
from prefect_botpenguin.core.errors import ExportError
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.exports import export_segments
from prefect_botpenguin.flows.export import segments_export
from prefect_botpenguin.flows.members import segments_members_export
from prefect_botpenguin.sandbox import SAMPLE_CONTACTS, SAMPLE_SEGMENTS, SandboxServer

SUCCEEDED = "prefect.asset.materialization.succeeded"
FAILED = "prefect.asset.materialization.failed"
REFERENCED = "prefect.asset.referenced"


def sandbox_host(sandbox: SandboxServer) -> str:
    return sandbox.url.split("://", 1)[1].rstrip("/")


async def asset_events(key: str, *, wait: bool = True) -> list[Event]:
    """Every ``prefect.asset.*`` event about ``key``; with ``wait``, until there is one."""
    for _ in range(80):
        async with get_client() as client:
            events = await read_all_events(
                client,
                EventFilter(
                    event=EventNameFilter(prefix=["prefect.asset."]),
                    resource=EventResourceFilter(id=[key]),
                ),
                limit=50,
            )
        if events or not wait:
            return events
        await asyncio.sleep(0.25)
    raise AssertionError(f"no asset event for {key} reached the Prefect server")


def roles(event: Event) -> dict[str, str]:
    return {related.id: related.role for related in event.related}


# -- keys: what Prefect accepts, without credentials ------------------------------------------


def test_a_local_path_is_its_file_uri_without_percent_escapes() -> None:
    assert file_asset_key(Path("/srv/exports/segments.csv").as_uri()) == (
        "file:///srv/exports/segments.csv"
    )
    # A space or a % is not allowed in a Prefect asset key: it becomes "_".
    assert file_asset_key(Path("/srv/my exports/100%.csv").as_uri()) == (
        "file:///srv/my_exports/100_.csv"
    )


def test_a_url_key_has_no_credentials_or_query() -> None:
    assert url_asset_key("s3://bucket/botpenguin/segments.parquet") == (
        "s3://bucket/botpenguin/segments.parquet"
    )
    assert url_asset_key("sftp://user:secret@files.example.com/out/segments.csv") == (
        "sftp://files.example.com/out/segments.csv"
    )
    assert url_asset_key("az://c/segments.csv?sv=1&sig=SECRET") == "az://c/segments.csv"
    assert url_asset_key("simplecache::s3://bucket/segments.csv") == "s3://bucket/segments.csv"


def test_a_block_path_and_an_overlong_location_still_make_valid_keys() -> None:
    assert block_asset_key("s3-bucket", "exports", "/daily/segments.csv") == (
        "block://s3-bucket/exports/daily/segments.csv"
    )
    long = asset_key("s3://bucket/" + "x" * 600)
    assert len(long) == 512
    assert long != asset_key("s3://bucket/" + "x" * 599), "the hash keeps long keys apart"


def test_the_account_asset_names_the_api_host_and_the_account_never_a_token() -> None:
    asset = account_asset("Larkspur Tea Co.", "https://api-v7.express-chat.com", "segments")
    assert asset.key == "botpenguin://api-v7.express-chat.com/larkspur-tea-co/segments"
    assert asset.properties is not None
    assert asset.properties.name == "BotPenguin segments: Larkspur Tea Co."
    members = account_asset("Larkspur Tea Co.", "http://127.0.0.1:8123/", "members")
    assert members.key == "botpenguin://127.0.0.1:8123/larkspur-tea-co/members"


# -- materializations on a Prefect server -----------------------------------------------------


@pytest.mark.integration
@pytest.mark.usefixtures("prefect_harness")
async def test_an_export_records_its_file_as_materialized_from_the_account(
    sandbox_env: SandboxServer, tmp_path: Path
) -> None:
    target = tmp_path / "segments.csv"
    result = await segments_export(destination=str(target), account="Asset Co")

    assert result.asset_key == f"file://{target}"
    events = await asset_events(result.asset_key)
    assert [event.event for event in events] == [SUCCEEDED]
    event = events[0]
    account_key = f"botpenguin://{sandbox_host(sandbox_env)}/asset-co/segments"
    related = roles(event)
    assert {key for key, role in related.items() if role == "asset"} == {account_key}
    assert related["prefect-botpenguin"] == "asset-materialized-by"
    assert "flow-run" in related.values(), "the run that wrote it is related too"
    assert (
        event.resource.get("prefect.resource.name") == "BotPenguin segments export: Asset Co (CSV)"
    )
    assert "Asset Co" in event.resource["prefect.asset.description"]
    assert event.payload == {
        "account": "Asset Co",
        "format": "csv",
        "segments": len(SAMPLE_SEGMENTS),
        "size_bytes": target.stat().st_size,
        "destination": str(target),
        "worker_host": socket.gethostname(),
    }
    referenced = await asset_events(account_key)
    assert {e.event for e in referenced} == {REFERENCED}
    assert referenced[0].resource.get("prefect.resource.name") == "BotPenguin segments: Asset Co"


@pytest.mark.integration
@pytest.mark.usefixtures("prefect_harness")
async def test_a_failed_export_records_no_materialization(
    sandbox_env: SandboxServer, tmp_path: Path
) -> None:
    directory = tmp_path / "a-directory.csv"
    directory.mkdir()
    with pytest.raises(ExportError, match="it is a directory"):
        await segments_export(destination=str(directory), account="Failing Co")
    # A later export's materialization reaching the server shows the failed run's would have too.
    later = await segments_export(destination=str(tmp_path / "later.csv"), account="Failing Co")
    await asset_events(later.asset_key)

    assert await asset_events(f"file://{directory}", wait=False) == []
    assert FAILED not in {e.event for e in await asset_events(later.asset_key)}


@pytest.mark.integration
@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.filterwarnings("ignore:Logger .prefect.task_runs. attempted to send logs")
def test_the_task_records_a_materialization_outside_any_flow(
    sandbox_env: SandboxServer, tmp_path: Path
) -> None:
    segments = [Segment.model_validate(record) for record in SAMPLE_SEGMENTS]
    result = export_segments(
        segments, tmp_path / "plain.json", account="Plain Co", source=sandbox_env.url
    )
    assert (tmp_path / "plain.json").exists()
    events = asyncio.run(asset_events(result.asset_key))
    assert [e.event for e in events] == [SUCCEEDED]
    assert f"botpenguin://{sandbox_host(sandbox_env)}/plain-co/segments" in roles(events[0])


@pytest.mark.integration
@pytest.mark.usefixtures("prefect_harness")
async def test_an_export_into_a_filesystem_block_is_keyed_by_the_real_path(
    sandbox_env: SandboxServer, tmp_path: Path
) -> None:
    await LocalFileSystem(basepath=str(tmp_path / "base")).save("asset-exports", overwrite=True)
    result = await segments_export(
        destination="nightly/segments.jsonl",
        account="Block Co",
        filesystem="local-file-system/asset-exports",
    )
    assert result.asset_key == f"file://{tmp_path}/base/nightly/segments.jsonl"
    assert [e.event for e in await asset_events(result.asset_key)] == [SUCCEEDED]


@pytest.mark.integration
@pytest.mark.usefixtures("prefect_harness")
async def test_the_link_artifact_says_a_local_export_is_a_path_on_the_worker(
    sandbox_env: SandboxServer, tmp_path: Path
) -> None:
    target = tmp_path / "linked.csv"
    await segments_export(destination=str(target), account="Link Co")

    artifact = await latest_artifact("botpenguin-export-link-co")
    host = socket.gethostname()
    assert f"[{target} (a path on the worker machine {host!r})]({target.as_uri()})" in str(
        artifact.data
    )
    assert f"on the machine that ran the flow ({host})" in str(artifact.description)


@pytest.mark.integration
@pytest.mark.usefixtures("prefect_harness")
async def test_a_remote_export_links_its_url(sandbox_env: SandboxServer) -> None:
    result = await segments_export(destination="memory://assets/remote.csv", account="Mem Co")
    assert result.asset_key == "memory://assets/remote.csv"
    artifact = await latest_artifact("botpenguin-export-mem-co")
    assert "(memory://assets/remote.csv)" in str(artifact.data)


@pytest.mark.integration
@pytest.mark.usefixtures("prefect_harness")
async def test_member_files_are_materialized_from_the_accounts_members_without_contacts(
    sandbox_env: SandboxServer, tmp_path: Path
) -> None:
    result = await segments_members_export(
        destination=str(tmp_path / "{segment_id}.jsonl"), account="Members Co"
    )
    assert len(result.files) > 1
    members_key = f"botpenguin://{sandbox_host(sandbox_env)}/members-co/members"
    recorded: list[dict[str, Any]] = []
    for file in result.files:
        events = await asset_events(file.asset_key)
        assert [e.event for e in events] == [SUCCEEDED]
        assert roles(events[0])[members_key] == "asset"
        assert events[0].payload["rows"] == file.count
        assert events[0].payload["segments"] == 1
        recorded.append(events[0].model_dump(mode="json"))
    text = json.dumps(recorded, ensure_ascii=False)
    assert sandbox_env.token not in text
    needles = {str(c[k]) for c in SAMPLE_CONTACTS for k in ("name", "email", "phone") if k in c}
    assert not [needle for needle in needles if needle in text], "contacts in asset events"


@pytest.mark.integration
@pytest.mark.usefixtures("prefect_harness")
async def test_asset_events_carry_no_token(sandbox_env: SandboxServer, tmp_path: Path) -> None:
    result = await segments_export(destination=str(tmp_path / "s.parquet"), account="Token Co")
    events = await asset_events(result.asset_key)
    events += await asset_events(f"botpenguin://{sandbox_host(sandbox_env)}/token-co/segments")
    text = json.dumps([e.model_dump(mode="json") for e in events])
    assert sandbox_env.token not in text
    assert sandbox_env.token[:8] not in text
