"""``segments_sync``: one fetch feeding artifacts, export and watch, each switched on or off."""

from __future__ import annotations

import copy
import csv
import json
import uuid
from pathlib import Path

import pytest
from prefect.utilities.callables import parameter_schema

from prefect_botpenguin.core.accounts import account_slug
from prefect_botpenguin.core.errors import ExportError, NotificationError, SyncStepsFailedError
from prefect_botpenguin.flows.sync import ExportStep, WatchStep, segments_sync
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS, SandboxServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]
TOKEN = "6a1c0ffee5a1e0000b0a7ebb"


def label() -> str:
    return f"sync-{uuid.uuid4().hex[:8]}"


async def test_all_steps_share_one_fetch(account: SandboxServer, tmp_path: Path) -> None:
    name = label()
    destination = tmp_path / "out" / "segments.csv"
    result = await segments_sync(
        account=name,
        export=ExportStep(enabled=True, destination=str(destination)),
        watch=WatchStep(state=str(tmp_path / "state")),
    )
    assert account.request_count == 1
    assert result.segment_count == len(SAMPLE_SEGMENTS)
    assert result.artifact_key == f"botpenguin-segments-{account_slug(name)}"
    assert result.export is not None
    assert result.export.count == len(SAMPLE_SEGMENTS)
    with destination.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["id"] for row in rows] == [s["_id"] for s in SAMPLE_SEGMENTS]
    assert result.watch is not None
    assert result.watch.baseline
    snapshot = json.loads((tmp_path / "state" / f"{account_slug(name)}.json").read_text("utf-8"))
    assert snapshot["segments"] == SAMPLE_SEGMENTS


async def test_switched_off_steps_do_nothing(account: SandboxServer, tmp_path: Path) -> None:
    result = await segments_sync(
        account=label(),
        publish_artifacts=False,
        export=ExportStep(enabled=False, destination=str(tmp_path / "never.csv")),
        watch=WatchStep(enabled=False, state=str(tmp_path / "state")),
    )
    assert (result.artifact_key, result.export, result.watch) == (None, None, None)
    assert list(tmp_path.iterdir()) == []


async def test_failed_notification_comes_after_export_and_snapshot(
    account: SandboxServer, receiver, tmp_path: Path
) -> None:
    receiver.status = 500
    name = label()
    destination = tmp_path / "segments.json"
    state = await segments_sync(
        account=name,
        export=ExportStep(enabled=True, destination=str(destination)),
        watch=WatchStep(
            state=str(tmp_path / "state"), notify=[receiver.url(scheme="json")], always_notify=True
        ),
        return_state=True,
    )
    assert state.is_failed()
    with pytest.raises(NotificationError, match="Nothing is lost"):
        await state.result()
    assert len(receiver.requests) == 1
    assert len(json.loads(destination.read_text("utf-8"))) == len(SAMPLE_SEGMENTS)
    assert (tmp_path / "state" / f"{account_slug(name)}.json").exists()


async def test_failed_export_does_not_stop_the_change_alert(
    account: SandboxServer, receiver, tmp_path: Path
) -> None:
    name = label()
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the export wants a folder")
    watch = WatchStep(state=str(tmp_path / "state"), notify=[receiver.url(scheme="json")])
    await segments_sync(account=name, publish_artifacts=False, watch=watch)
    changed = copy.deepcopy(SAMPLE_SEGMENTS)
    changed[0]["segmentName"] = "VIP tea circle"
    account.set_segments(changed, token=TOKEN)

    state = await segments_sync(
        account=name,
        publish_artifacts=False,
        export=ExportStep(enabled=True, destination=str(blocker / "segments.csv")),
        watch=watch,
        return_state=True,
    )
    assert state.is_failed()
    with pytest.raises(ExportError):
        await state.result()
    (message,) = receiver.requests
    assert "VIP tea circle" in message.json()["message"]


async def test_two_failed_steps_are_named_together(
    account: SandboxServer, receiver, tmp_path: Path
) -> None:
    receiver.status = 500
    blocker = tmp_path / "file"
    blocker.write_text("x")
    state = await segments_sync(
        account=label(),
        publish_artifacts=False,
        export=ExportStep(enabled=True, destination=str(blocker / "segments.csv")),
        watch=WatchStep(
            state=str(tmp_path / "state"), notify=[receiver.url(scheme="json")], always_notify=True
        ),
        return_state=True,
    )
    with pytest.raises(SyncStepsFailedError, match=r"2 sync steps failed: export: .*; watch: "):
        await state.result()


def test_parameters_render_as_a_typed_form() -> None:
    schema = parameter_schema(segments_sync.fn).model_dump()
    properties = schema["properties"]
    assert list(properties) == ["credentials", "account", "publish_artifacts", "export", "watch"]
    assert all(p.get("description") for p in properties.values())
    export = schema["definitions"]["ExportStep"]["properties"]
    assert export["format"]["anyOf"][0]["enum"] == ["csv", "json", "jsonl", "parquet"]
    assert export["enabled"]["default"] is False
    watch = schema["definitions"]["WatchStep"]["properties"]
    assert watch["enabled"]["default"] is True
    assert watch["notify"]["type"] == "array"


def test_cli_sync_runs_every_step_on_sample_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from prefect_botpenguin.flows.cli import main

    monkeypatch.chdir(tmp_path)
    argv = ["sync", "--sandbox", "--account", "cli-sync", "--export", "out/segments.jsonl"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Synced 6 segment(s) of cli-sync (SAMPLE DATA from the sandbox)." in printed
    assert "Artifact: botpenguin-segments-cli-sync" in printed
    assert "baseline recorded" in printed
    lines = (tmp_path / "out" / "segments.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [s["_id"] for s in SAMPLE_SEGMENTS]
    assert (tmp_path / ".botpenguin" / "snapshots" / "cli-sync.json").exists()
