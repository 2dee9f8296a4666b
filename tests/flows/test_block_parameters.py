"""Block-typed flow parameters, on a real Prefect server (the session's test harness).

What Prefect's Custom run form submits for a picked block is a reference,
``{"$ref": {"block_document_id": ...}}``; ``prefect.yaml`` holds one by slug. Prefect resolves
either before the flow starts, and the flow run keeps the reference: the token never becomes a
run parameter. A block's *name* keeps working (older deployments, the CLI, Python callers).
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.filesystems import LocalFileSystem, RemoteFileSystem
from prefect_readback import latest_artifact

from prefect_botpenguin import BotPenguinCredentials
from prefect_botpenguin.core.errors import ConfigurationError
from prefect_botpenguin.deployments.serve import build_deployments, refuse_pool_deployments
from prefect_botpenguin.flows.common import state_location
from prefect_botpenguin.flows.export import segments_export
from prefect_botpenguin.flows.report import segments_report
from prefect_botpenguin.flows.sync import WatchStep, segments_sync
from prefect_botpenguin.flows.watch import segments_watch
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS, SandboxServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def saved_credentials(sandbox: SandboxServer) -> tuple[str, uuid.UUID]:
    name = unique("picked")
    block_id = await BotPenguinCredentials(api_token=sandbox.token, base_url=sandbox.url).save(name)
    return name, block_id


async def stored_parameters(flow_run_id: uuid.UUID) -> dict[str, Any]:
    async with get_client() as client:
        return dict((await client.read_flow_run(flow_run_id)).parameters)


async def run_id_of(flow: Any, **parameters: Any) -> tuple[Any, uuid.UUID]:
    """Call the flow for its state, so the run's id (and stored parameters) can be read."""
    state = await flow(**parameters, return_state=True)
    assert state.is_completed(), state.message
    return await state.result(), state.state_details.flow_run_id


async def test_a_block_reference_by_id_runs_with_that_block_and_is_what_the_run_keeps(
    sandbox: SandboxServer,
) -> None:
    """What the UI's block picker submits."""
    name, block_id = await saved_credentials(sandbox)
    reference = {"$ref": {"block_document_id": str(block_id)}}
    segments, run_id = await run_id_of(segments_report, credentials=reference)
    assert len(segments) == len(SAMPLE_SEGMENTS)
    assert (await latest_artifact(f"botpenguin-segments-{name}")).key, "labelled by block name"
    stored = await stored_parameters(run_id)
    assert stored["credentials"] == reference
    assert sandbox.token not in json.dumps(stored)


async def test_a_block_reference_by_slug_as_in_prefect_yaml_runs_with_that_block(
    sandbox: SandboxServer,
) -> None:
    name, _ = await saved_credentials(sandbox)
    reference = {"$ref": {"block_document_slug": f"botpenguin-credentials/{name}"}}
    segments, run_id = await run_id_of(segments_report, credentials=reference, account=name)
    assert len(segments) == len(SAMPLE_SEGMENTS)
    stored = await stored_parameters(run_id)
    assert stored["credentials"] == reference
    assert sandbox.token not in json.dumps(stored)


async def test_a_block_object_from_python_runs_and_its_token_is_not_a_run_parameter(
    sandbox: SandboxServer,
) -> None:
    name, _ = await saved_credentials(sandbox)
    block = await BotPenguinCredentials.aload(name)
    segments, run_id = await run_id_of(segments_report, credentials=block)
    assert len(segments) == len(SAMPLE_SEGMENTS)
    assert sandbox.token not in json.dumps(await stored_parameters(run_id))


async def test_a_block_name_still_works_and_the_run_keeps_the_name(sandbox: SandboxServer) -> None:
    name, _ = await saved_credentials(sandbox)
    segments, run_id = await run_id_of(segments_report, credentials=name)
    assert len(segments) == len(SAMPLE_SEGMENTS)
    assert (await stored_parameters(run_id))["credentials"] == name


async def test_an_unknown_block_reference_fails_before_the_flow_starts() -> None:
    reference = {"$ref": {"block_document_slug": "botpenguin-credentials/never-saved"}}
    state = await segments_report(credentials=reference, return_state=True)  # type: ignore[arg-type]
    assert state.is_failed()
    assert "block" in (state.message or "").lower()


async def test_export_into_a_picked_filesystem_block(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    _, credentials_id = await saved_credentials(sandbox)
    filesystem_id = await LocalFileSystem(basepath=str(tmp_path)).save(unique("exports"))
    result, run_id = await run_id_of(
        segments_export,
        destination="segments.csv",
        credentials={"$ref": {"block_document_id": str(credentials_id)}},
        filesystem={"$ref": {"block_document_id": str(filesystem_id)}},
    )
    assert (tmp_path / "segments.csv").is_file()
    assert result.count == len(SAMPLE_SEGMENTS)
    stored = await stored_parameters(run_id)
    assert stored["filesystem"] == {"$ref": {"block_document_id": str(filesystem_id)}}


async def test_two_watch_runs_share_state_kept_in_a_filesystem_block(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The state lives where the block says, not in the worker's directory: a second run
    (on any worker that can reach the block's storage) sees the change since the first."""
    _, credentials_id = await saved_credentials(sandbox)
    shared = tmp_path / "shared"
    block_id = await LocalFileSystem(basepath=str(shared)).save(unique("state"))
    parameters = {
        "credentials": {"$ref": {"block_document_id": str(credentials_id)}},
        "account": unique("Shared state"),
        "state": "botpenguin/snapshots",
        "state_filesystem": {"$ref": {"block_document_id": str(block_id)}},
    }
    first, _ = await run_id_of(segments_watch, **parameters)
    assert first.baseline
    assert Path(first.snapshot).parent == shared / "botpenguin" / "snapshots"

    changed = copy.deepcopy(SAMPLE_SEGMENTS)
    changed[0]["segmentName"] = "Renamed in the sandbox"
    sandbox.set_segments(changed, token=sandbox.token)
    second, _ = await run_id_of(segments_watch, **parameters)
    assert second.diff is not None
    assert [change.id for change in second.diff.changed] == [changed[0]["_id"]]
    assert second.snapshot == first.snapshot


async def test_sync_watch_step_keeps_its_state_in_a_filesystem_block_given_by_name(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    _, credentials_id = await saved_credentials(sandbox)
    name = unique("sync-state")
    await LocalFileSystem(basepath=str(tmp_path)).save(name)
    result = await segments_sync(
        credentials={"$ref": {"block_document_id": str(credentials_id)}},  # type: ignore[arg-type]
        account=unique("Synced"),
        publish_artifacts=False,
        watch=WatchStep(state="snapshots", state_filesystem=f"local-file-system/{name}"),
    )
    assert result.watch is not None
    assert result.watch.baseline
    assert Path(result.watch.snapshot).parent == tmp_path / "snapshots"


def test_state_inside_a_block_cannot_leave_its_base_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="outside of the base path"):
        state_location("../elsewhere", LocalFileSystem(basepath=str(tmp_path)))


def test_state_in_a_remote_block_is_a_url_under_its_base_path() -> None:
    block = RemoteFileSystem(basepath="memory://team/botpenguin")
    assert state_location("snapshots", block) == "memory://team/botpenguin/snapshots"


def test_state_in_a_remote_block_with_settings_is_refused_with_the_way_out() -> None:
    block = RemoteFileSystem(basepath="memory://team", settings={"key": "k"})
    with pytest.raises(ConfigurationError, match="leave the block's settings empty"):
        state_location("snapshots", block)


async def test_serve_refusal_names_every_deployment_on_a_work_pool() -> None:
    deployments = build_deployments()
    pool = unique("pool")
    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        on_pool = deployments[:2]
        for deployment in on_pool:
            flow_id = await client.create_flow_from_name(deployment.flow_name)
            await client.create_deployment(
                flow_id=flow_id, name=deployment.name, work_pool_name=pool
            )
    try:
        with pytest.raises(ConfigurationError) as refused:
            await refuse_pool_deployments(deployments)
        message = str(refused.value)
        for deployment in on_pool:
            name = f"{deployment.flow_name}/{deployment.name}"
            assert f"`prefect deployment delete {name}`" in message
        for deployment in deployments[2:]:
            assert deployment.name not in message
        assert repr(pool) in message
    finally:
        async with get_client() as client:
            for deployment in on_pool:
                found = await client.read_deployment_by_name(
                    f"{deployment.flow_name}/{deployment.name}"
                )
                await client.delete_deployment(found.id)


def test_watch_command_keeps_state_in_a_filesystem_block_given_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prefect_botpenguin.flows.cli import main

    name = unique("cli-state")
    LocalFileSystem(basepath=str(tmp_path)).save(name)
    argv = ["watch", "--sandbox", "--state", "snaps", "--state-filesystem"]
    code = main([*argv, f"local-file-system/{name}", "--account", name])
    assert code == 0
    assert f"Snapshot: {tmp_path / 'snaps'}" in capsys.readouterr().out
    assert list((tmp_path / "snaps").glob("*.json")), "the snapshot is inside the block's base path"


def test_every_deployment_quick_runs_with_its_stored_parameters_alone() -> None:
    """A Quick run submits the deployment's parameters as they are: every flow must accept
    them, with the slug reference resolved to the saved ``default`` block (``partner`` for
    a partner's fan-out). The shard deployment is left out: only its parent starts it, with
    every parameter."""
    from prefect_botpenguin.deployments.serve import load_deployment_specs, load_flow

    BotPenguinCredentials(api_token="quick-run-token").save("default", overwrite=True)
    BotPenguinCredentials(api_token="quick-run-partner").save("partner", overwrite=True)
    for spec in load_deployment_specs():
        if spec["name"] == "fanout-shard":
            continue
        flow = load_flow(spec["entrypoint"])
        parameters = flow.validate_parameters(copy.deepcopy(spec["parameters"]))
        field, block = (
            ("partner_credentials", "partner")
            if "partner_credentials" in parameters
            else ("credentials", "default")
        )
        assert isinstance(parameters[field], BotPenguinCredentials), spec["name"]
        assert parameters[field]._block_document_name == block


async def test_watch_notifies_the_picked_notify_block_and_keeps_only_its_reference(
    sandbox: SandboxServer, tmp_path: Path, receiver: Any
) -> None:
    """A notification block picked in the form (stored as a reference) gets the change
    message; the run keeps the reference, not the webhook's secret."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    _, credentials_id = await saved_credentials(sandbox)
    webhook_id = await CustomWebhookNotificationBlock(
        name="BotPenguin alerts",
        url=receiver.url("/picked"),
        json_data={"subject": "{{subject}}", "token": "{{token}}"},
        secrets={"token": "picked-webhook-secret"},
    ).save(unique("picked-webhook"))
    picked = {"$ref": {"block_document_id": str(webhook_id)}}
    parameters = {
        "credentials": {"$ref": {"block_document_id": str(credentials_id)}},
        "account": unique("Notified"),
        "state": str(tmp_path),
        "notify_block": picked,
    }
    await run_id_of(segments_watch, **parameters)  # the baseline: no message
    changed = copy.deepcopy(SAMPLE_SEGMENTS)
    changed[1]["segmentName"] = "Renamed for the picked block"
    sandbox.set_segments(changed, token=sandbox.token)
    result, run_id = await run_id_of(segments_watch, **parameters)

    (message,) = receiver.requests
    assert message.json()["token"] == "picked-webhook-secret"
    assert "renamed" in message.json()["subject"]
    assert result.notified, "the picked block accepted the message"
    stored = await stored_parameters(run_id)
    assert stored["notify_block"] == picked
    assert "picked-webhook-secret" not in json.dumps(stored)


def test_an_unsaved_notification_block_is_refused_with_the_way_out() -> None:
    from prefect.blocks.notifications import SlackWebhook

    from prefect_botpenguin.flows.common import notification_targets

    with pytest.raises(ConfigurationError, match="must be a saved block"):
        notification_targets([SlackWebhook(url="https://hooks.slack.com/services/x")])
