"""``botpenguin automations apply`` against a real (temporary) Prefect server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client

from prefect_botpenguin.automations import (
    AUDIENCE_SWINGS,
    FAILED_SYNC,
    SEGMENT_CHANGES,
    SILENT_WATCH,
    apply_automations,
    notification_block_id,
    wanted_automations,
)
from prefect_botpenguin.changes import change_event_specs
from prefect_botpenguin.core.diff import diff_segments
from prefect_botpenguin.core.errors import ConfigurationError
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.core.schema_drift import SchemaDrift
from prefect_botpenguin.core.thresholds import Resize
from prefect_botpenguin.credentials import BotPenguinCredentials
from prefect_botpenguin.history_events import history_event_specs

pytestmark = pytest.mark.usefixtures("prefect_harness")


async def _delete_ours() -> None:
    async with get_client() as client:
        for automation in await client.read_automations():
            if automation.name.startswith("botpenguin: "):
                await client.delete_automation(automation.id)


@pytest.fixture(autouse=True)
def _no_automations_left_behind():
    """Other tests of the session share this server: none of ours may act on their runs."""
    asyncio.run(_delete_ours())
    yield
    asyncio.run(_delete_ours())


def _webhook(name: str, url: str) -> None:
    CustomWebhookNotificationBlock(
        name=name, url=url, json_data={"subject": "{{subject}}", "body": "{{body}}"}
    ).save(name, overwrite=True)


def first_message(receiver: Any) -> dict[str, Any]:
    """The first message the notification block delivered, after the events are sent."""
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=30)
    deadline = time.monotonic() + 60
    while not receiver.requests and time.monotonic() < deadline:
        time.sleep(0.5)
    assert receiver.requests, "no notification within 60 s"
    message: dict[str, Any] = receiver.requests[0].json()
    return message


def test_apply_creates_once_then_keeps_the_same_automations(receiver):
    _webhook("ops-hook", receiver.url())

    async def scenario():
        await _delete_ours()
        block = await notification_block_id("ops-hook")
        first = await apply_automations(wanted_automations(block))
        again = await apply_automations(wanted_automations(block))
        return first, again

    first, again = asyncio.run(scenario())
    assert [(a.name, a.outcome) for a in first] == [
        (SEGMENT_CHANGES, "created"),
        (FAILED_SYNC, "created"),
        (SILENT_WATCH, "created"),
    ]
    assert [(a.name, a.outcome, a.id) for a in again] == [
        (a.name, "unchanged", a.id) for a in first
    ]


def test_a_changed_block_updates_the_automations_in_place(receiver):
    _webhook("ops-hook", receiver.url())
    _webhook("other-hook", receiver.url("/other"))

    async def scenario():
        await _delete_ours()
        first = await apply_automations(wanted_automations(await notification_block_id("ops-hook")))
        other = await notification_block_id("other-hook")
        dry = await apply_automations(wanted_automations(other), dry_run=True)
        moved = await apply_automations(wanted_automations(other))
        after = await apply_automations(wanted_automations(other))
        return first, dry, moved, after

    first, dry, moved, after = asyncio.run(scenario())
    ids = {a.name: a.id for a in first}
    expected = [
        (SEGMENT_CHANGES, "updated", ("actions",)),
        (FAILED_SYNC, "updated", ("actions",)),
        (SILENT_WATCH, "unchanged", ()),
    ]
    assert [(a.name, a.outcome, a.changed) for a in dry] == expected
    assert [(a.name, a.outcome, a.changed) for a in moved] == expected, "dry run wrote nothing"
    assert {a.name: a.id for a in moved} == ids, "updated in place, not re-created"
    assert {a.outcome for a in after} == {"unchanged"}


def test_dry_run_creates_nothing():
    async def scenario():
        await _delete_ours()
        planned = await apply_automations(wanted_automations(), dry_run=True)
        async with get_client() as client:
            stored = await client.read_automations_by_name(SILENT_WATCH)
        return planned, stored

    planned, stored = asyncio.run(scenario())
    assert [(a.name, a.outcome, a.id) for a in planned] == [(SILENT_WATCH, "created", None)]
    assert stored == []


def test_an_unknown_notification_block_is_one_clear_error():
    with pytest.raises(ConfigurationError, match="no-such-block"):
        asyncio.run(notification_block_id("no-such-block"))


def test_a_segment_event_fires_the_notification_through_the_block(receiver):
    """Prefect's own trigger and action services (they run in the harness's server)."""
    from prefect.events import emit_event

    _webhook("ops-hook", receiver.url())

    async def setup():
        await _delete_ours()
        block = await notification_block_id("ops-hook")
        await apply_automations(wanted_automations(block, account="Larkspur Tea Co."))

    asyncio.run(setup())
    time.sleep(2)  # the triggers service reloads automations on change notifications
    created = Segment.model_validate(
        {"_id": "6a1c0ffee5a1e0000b0a7e03", "segmentName": "News", "contactCount": 12}
    )
    spec = change_event_specs(
        diff_segments([], [created]), "Larkspur Tea Co.", fetched_at=datetime.now(UTC)
    )[0]
    emit_event(**spec)
    message = first_message(receiver)
    assert message["subject"] == "BotPenguin segments changed in Larkspur Tea Co."
    assert "created segment News (6a1c0ffee5a1e0000b0a7e03)" in message["body"]
    assert "contacts after: 12" in message["body"]


def test_the_command_applies_by_name_and_a_dry_run_only_prints(receiver, capsys):
    from prefect_botpenguin.flows.cli import main

    _webhook("ops-hook", receiver.url())
    asyncio.run(_delete_ours())
    assert main(["automations", "apply", "--notify", "ops-hook", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"would create: {SEGMENT_CHANGES}",
        f"would create: {FAILED_SYNC}",
        f"would create: {SILENT_WATCH}",
    ]
    assert main(["automations", "apply", "--notify", "ops-hook"]) == 0
    assert [line.split(" [")[0] for line in capsys.readouterr().out.splitlines()] == [
        f"created: {SEGMENT_CHANGES}",
        f"created: {FAILED_SYNC}",
        f"created: {SILENT_WATCH}",
    ]
    assert main(["automations", "apply", "--notify", "ops-hook"]) == 0
    assert [line.split(" [")[0] for line in capsys.readouterr().out.splitlines()] == [
        f"unchanged: {SEGMENT_CHANGES}",
        f"unchanged: {FAILED_SYNC}",
        f"unchanged: {SILENT_WATCH}",
    ]


def resized_spec(before: int, after: int, percent: float | None, segment: str = "e02") -> dict:
    return history_event_specs(
        "Larkspur Tea Co.",
        resizes={segment: Resize(before, after, percent)},
        drift=SchemaDrift(),
        names={segment: "Clientes de São Paulo"},
        change="c-1",
        previous_fetched_at=datetime.now(UTC),
        fetched_at=datetime.now(UTC),
    )[0]


def test_the_swing_automation_matches_resizes_at_or_past_n_percent_either_way():
    from prefect.events.schemas.events import Resource

    (changes, swings, _failed, _silent) = wanted_automations(uuid.uuid4(), swing=40)
    assert swings.name == AUDIENCE_SWINGS
    assert swings.trigger.expect == {"botpenguin.segment.resized"}  # type: ignore[union-attr]

    def fires(spec: dict) -> bool:
        return swings.trigger.match.matches(Resource(spec["resource"]))  # type: ignore[union-attr]

    assert fires(resized_spec(1313, 525, -60.0))
    assert fires(resized_spec(100, 140, 40.0))
    assert fires(resized_spec(0, 50, None)), "growth from zero"
    assert not fires(resized_spec(100, 139, 39.0))
    assert not fires(resized_spec(100, 70, -30.0))
    quiet = change_event_specs(
        diff_segments(
            [Segment.model_validate({"_id": "a", "updatedAt": "t0"})],
            [Segment.model_validate({"_id": "a", "updatedAt": "t1"})],
        ),
        "Larkspur Tea Co.",
    )[0]
    assert not changes.trigger.match.matches(Resource(quiet["resource"])), (  # type: ignore[union-attr]
        "a bookkeeping tick is no segment-changes message"
    )


def test_a_resize_past_the_swing_sends_its_message_through_the_block(receiver):
    """Prefect's own trigger and action services, as for segment changes."""
    from prefect.events import emit_event

    _webhook("ops-hook", receiver.url())

    async def setup():
        await _delete_ours()
        block = await notification_block_id("ops-hook")
        return await apply_automations(wanted_automations(block, swing=40))

    applied = asyncio.run(setup())
    assert [a.name for a in applied][:2] == [SEGMENT_CHANGES, AUDIENCE_SWINGS]
    time.sleep(2)  # the triggers service reloads automations on change notifications
    emit_event(**resized_spec(1313, 525, -60.0))
    message = first_message(receiver)
    assert message["subject"] == (
        "BotPenguin audience swing in Larkspur Tea Co.: Clientes de São Paulo"
    )
    assert "went from 1313 to 525 contacts (-60.0%)" in message["body"]


def test_the_command_offers_the_swing_automation(receiver, capsys):
    from prefect_botpenguin.flows.cli import main

    _webhook("ops-hook", receiver.url())
    asyncio.run(_delete_ours())
    args = ["automations", "apply", "--notify", "ops-hook", "--swing", "40", "--dry-run"]
    assert main(args) == 0
    assert f"would create: {AUDIENCE_SWINGS}" in capsys.readouterr().out.splitlines()
    assert main([*args[:-2], "1000"]) == 2, "a swing is 0-999%"


def test_the_command_names_a_missing_block_in_one_line(capsys):
    from prefect_botpenguin.flows.cli import main

    assert main(["automations", "apply", "--notify", "no-such-block"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: No notification block 'no-such-block'")
    assert len(captured.err.strip().splitlines()) == 1
    assert "Traceback" not in captured.err


def test_a_watch_run_whose_heartbeats_stop_is_marked_crashed_and_a_finished_one_is_not():
    """A run that sent one heartbeat and then fell silent, as when its worker is killed."""
    from datetime import timedelta

    from prefect.events import emit_event
    from prefect.events.worker import EventsWorker
    from prefect.states import Completed, Running

    from prefect_botpenguin.flows.watch import segments_watch

    async def start_runs():
        await _delete_ours()
        await apply_automations(wanted_automations(silence=timedelta(seconds=10)))
        async with get_client() as client:
            silent = await client.create_flow_run(segments_watch, state=Running())
            finished = await client.create_flow_run(segments_watch, state=Running())
        return silent, finished

    silent, finished = asyncio.run(start_runs())
    time.sleep(2)  # the triggers service loads the new automation
    for run in (silent, finished):
        emit_event(
            event="prefect.flow-run.heartbeat",
            resource={"prefect.resource.id": f"prefect.flow-run.{run.id}"},
            related=[
                {
                    "prefect.resource.id": f"prefect.flow.{run.flow_id}",
                    "prefect.resource.role": "flow",
                    "prefect.resource.name": segments_watch.name,
                }
            ],
        )
    EventsWorker.drain_all(timeout=30)

    async def finish_and_wait():
        async with get_client() as client:
            await client.set_flow_run_state(finished.id, Completed())
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                state = (await client.read_flow_run(silent.id)).state
                if state is not None and state.is_crashed():
                    break
                await asyncio.sleep(1)
            return (
                (await client.read_flow_run(silent.id)).state,
                (await client.read_flow_run(finished.id)).state,
            )

    silent_state, finished_state = asyncio.run(finish_and_wait())
    assert silent_state is not None
    assert silent_state.is_crashed(), silent_state
    assert "No heartbeat for 10 s" in (silent_state.message or "")
    assert finished_state is not None
    assert finished_state.is_completed(), finished_state


def test_a_failed_sync_run_sends_the_message_through_the_block(receiver):
    from prefect.states import Failed, Running

    from prefect_botpenguin.flows.sync import segments_sync

    _webhook("ops-hook", receiver.url())

    async def fail_a_run():
        await apply_automations(wanted_automations(await notification_block_id("ops-hook")))
        await asyncio.sleep(2)  # the triggers service loads the new automations
        async with get_client() as client:
            run = await client.create_flow_run(segments_sync, state=Running())
            await client.set_flow_run_state(run.id, Failed(message="BotPenguin answered 401"))
        return run

    run = asyncio.run(fail_a_run())
    deadline = time.monotonic() + 60
    while not receiver.requests and time.monotonic() < deadline:
        time.sleep(0.5)
    assert receiver.requests, "no notification within 60 s"
    message = receiver.requests[0].json()
    assert message["subject"] == f"BotPenguin sync failed: {run.name}"
    assert (
        f"{run.name} of botpenguin-segments-sync ended Failed: BotPenguin answered 401"
        in (message["body"])
    )


def test_a_segment_event_starts_one_export_run_per_account_with_the_events_parameters():
    """The trigger `botpenguin serve` registers from prefect.yaml, on a real server; the run
    reads the credentials block the watch read (named by the events), not its default."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.events import emit_event
    from prefect.events.worker import EventsWorker

    from prefect_botpenguin.deployments.serve import build_deployments

    (export,) = [d for d in build_deployments() if d.name == "segments-export"]
    export.name = "segments-export-trigger-test"  # not the name other tests may deploy
    deployment_id = export.apply()
    name = f"trigger-shop-{uuid.uuid4().hex[:8]}"
    BotPenguinCredentials(api_token="trigger-shop-secret-token").save(name)
    watched = BotPenguinCredentials.load(name)  # as a watch run loads its block
    try:
        time.sleep(2)  # the triggers service loads the new automation
        segments = [
            Segment.model_validate({"_id": f"6a1c0ffee5a1e0000b0a7e1{n}", "segmentName": f"S{n}"})
            for n in range(3)
        ]
        for spec in change_event_specs(  # a burst: three segments of one account at once
            diff_segments([], segments),
            "Larkspur Tea Co.",
            fetched_at=datetime.now(UTC),
            credentials=watched,
        ):
            emit_event(**spec)
        EventsWorker.drain_all(timeout=30)

        async def runs_of_the_deployment():
            async with get_client() as client:
                return await client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
                )

        deadline = time.monotonic() + 60
        while not (runs := asyncio.run(runs_of_the_deployment())) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3)  # room for a (wrong) second run from the same burst
        runs = asyncio.run(runs_of_the_deployment())
        assert len(runs) == 1, [run.parameters for run in runs]
        assert runs[0].parameters["account"] == "Larkspur Tea Co."
        assert runs[0].parameters["destination"] == "out/botpenguin-segments-larkspur-tea-co.csv"
        reference = {"$ref": {"block_document_slug": f"botpenguin-credentials/{name}"}}
        assert runs[0].parameters["credentials"] == reference, "the watch's, not the default"
        assert "trigger-shop-secret-token" not in json.dumps(runs[0].parameters)
    finally:

        async def clean_up():
            async with get_client() as client:
                owner = f"prefect.deployment.{deployment_id}"
                await client.delete_resource_owned_automations(owner)
                await client.delete_deployment(deployment_id)

        asyncio.run(clean_up())


def test_serve_removes_the_triggers_deleted_deployments_left_and_keeps_the_others():
    """Deleting a deployment (as serve's refusal says to) leaves its trigger, which would fail
    on every change event; `botpenguin serve` removes it before registering its own."""
    from prefect_botpenguin.deployments.serve import build_deployments, remove_orphaned_triggers

    (export,) = [d for d in build_deployments() if d.name == "segments-export"]
    (trigger_name,) = [trigger.name for trigger in export.triggers]

    async def scenario():
        async with get_client() as client:
            export.name = "segments-export-orphan-test"
            deleted = await export.apply()
            export.name = "segments-export-kept-test"
            kept = await export.apply()
            await client.delete_deployment(deleted)
            removed = await remove_orphaned_triggers([export])
            again = await remove_orphaned_triggers([export])
            left = [
                action.deployment_id
                for automation in await client.read_automations_by_name(trigger_name)
                for action in automation.actions
            ]
            await client.delete_resource_owned_automations(f"prefect.deployment.{kept}")
            await client.delete_deployment(kept)
            return kept, removed, again, left

    kept, removed, again, left = asyncio.run(scenario())
    assert removed == [trigger_name]
    assert again == []
    assert left == [kept], "the live deployment's trigger stays"
