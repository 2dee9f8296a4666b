"""A triggered export reads the account the watch read, not the deployment's default block.

The watch's events carry ``credentials``: a reference to the saved block it used (never the
token), or null for ``BOTPENGUIN_*`` settings. ``prefect.yaml``'s triggers pass it on; here
their parameters are rendered from the events the harness stored, by the server's own
``RunDeployment.render_parameters``, and the export runs with them as a triggered run would
(the deployment's parameters overlaid with the rendered ones).
"""

from __future__ import annotations

import copy
import csv
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.events import Event
from prefect.events.filters import EventFilter, EventIDFilter
from prefect.utilities.schema_tools.hydration import HydrationError
from prefect_readback import read_all_events

from prefect_botpenguin.changes import change_event_specs
from prefect_botpenguin.core.accounts import account_slug
from prefect_botpenguin.core.diff import diff_segments
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.credentials import BotPenguinCredentials, credentials_reference
from prefect_botpenguin.deployments.serve import build_triggers, load_deployment_specs
from prefect_botpenguin.flows.export import segments_export
from prefect_botpenguin.flows.watch import segments_watch
from prefect_botpenguin.sandbox import SAMPLE_MEMBERSHIP, SAMPLE_SEGMENTS, SandboxServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

TOKEN_DEFAULT = "trigger-default-account-token"
TOKEN_SHOP_B = "trigger-shop-b-account-token"
TOKEN_ENV = "trigger-environment-account-token"
ACCOUNTS = {
    TOKEN_DEFAULT: SAMPLE_SEGMENTS[:2],
    TOKEN_SHOP_B: SAMPLE_SEGMENTS[2:4],
    TOKEN_ENV: SAMPLE_SEGMENTS[4:5],
}
NEW = SAMPLE_SEGMENTS[5]
"""The segment each watch test creates in its account between two runs."""
SPECS = {spec["name"]: spec for spec in load_deployment_specs()}


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    """Three accounts with different segments: the default block's, shop B's, the settings'."""
    with SandboxServer(accounts=ACCOUNTS) as server:
        monkeypatch.setenv("BOTPENGUIN_BASE_URL", server.url)
        monkeypatch.setenv("BOTPENGUIN_API_TOKEN", TOKEN_ENV)
        monkeypatch.delenv("BOTPENGUIN_ACCOUNT", raising=False)
        BotPenguinCredentials(api_token=TOKEN_DEFAULT, base_url=server.url).save(
            "default", overwrite=True
        )
        yield server


async def stored_events(ids: list[str]) -> list[Event]:
    """The events as the Prefect API returns them (what a trigger sees)."""
    async with get_client() as client:
        events = await read_all_events(
            client, EventFilter(id=EventIDFilter(id=[uuid.UUID(i) for i in ids])), limit=50
        )
    return events


async def render_trigger(deployment: str, event: Event) -> dict[str, Any]:
    """The run parameters Prefect's server renders from ``event`` for the deployment's trigger."""
    from prefect.server.events.actions import RunDeployment
    from prefect.server.events.schemas.automations import Automation, TriggeredAction
    from prefect.server.events.schemas.events import ReceivedEvent

    (trigger,) = build_triggers(SPECS[deployment])
    trigger.set_deployment_id(uuid.uuid4())
    core = trigger.as_automation().model_dump(mode="json")
    automation = Automation.model_validate({**core, "id": str(uuid.uuid4())})
    (action,) = automation.actions
    assert isinstance(action, RunDeployment), action
    received = ReceivedEvent.model_validate(
        {**event.model_dump(mode="json"), "received": datetime.now(UTC).isoformat()}
    )
    triggered = TriggeredAction(
        automation=automation,
        triggered=datetime.now(UTC),
        triggering_labels={},
        triggering_event=received,
        action=action,
    )
    return dict(await action.render_parameters(triggered))


async def run_triggered_export(rendered: dict[str, Any], tmp_path: Path) -> list[str]:
    """Run the export with the deployment's parameters under the rendered ones; its ids."""
    parameters = {**copy.deepcopy(SPECS["segments-export"]["parameters"]), **rendered}
    parameters["destination"] = str(tmp_path / Path(rendered["destination"]).name)
    result = await segments_export(**parameters)  # a reference is loaded as a run loads it
    with open(result.destination, newline="", encoding="utf-8") as handle:
        return sorted(row["id"] for row in csv.DictReader(handle))


async def watch_a_change(
    sandbox: SandboxServer, token: str, tmp_path: Path, **watch: Any
) -> list[Event]:
    """A baseline, one segment created in ``token``'s account, a second run: its events."""
    run = {"state": str(tmp_path / "state"), **watch}
    await segments_watch(**run)
    sandbox.set_segments([*ACCOUNTS[token], NEW], token=token)
    result = await segments_watch(**run)
    assert result.event_ids, "the second run saw the created segment"
    events = await stored_events(result.event_ids)
    assert sorted(str(event.id) for event in events) == sorted(result.event_ids)
    return events


async def test_a_watch_with_a_saved_block_triggers_an_export_of_that_account(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    name = f"shop-b-{uuid.uuid4().hex[:8]}"
    await BotPenguinCredentials(api_token=TOKEN_SHOP_B, base_url=sandbox.url).save(name)
    label = f"Shop B {name[-8:]}"
    events = await watch_a_change(sandbox, TOKEN_SHOP_B, tmp_path, credentials=name, account=label)

    reference = {"$ref": {"block_document_slug": f"botpenguin-credentials/{name}"}}
    assert [event.payload["credentials"] for event in events] == [reference]
    assert TOKEN_SHOP_B not in json.dumps([event.model_dump(mode="json") for event in events])

    rendered = await render_trigger("segments-export", events[0])
    assert rendered == {
        "account": label,
        "credentials": reference,
        "destination": f"out/botpenguin-segments-{account_slug(label)}.csv",
    }
    exported = await run_triggered_export(rendered, tmp_path)
    shop_b = sorted(s["_id"] for s in [*ACCOUNTS[TOKEN_SHOP_B], NEW])
    assert exported == shop_b, "shop B's segments, not the default block's"


async def test_a_watch_on_environment_settings_triggers_an_export_from_the_same_settings(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    label = f"Env {uuid.uuid4().hex[:8]}"
    events = await watch_a_change(sandbox, TOKEN_ENV, tmp_path, account=label)

    assert [event.payload["credentials"] for event in events] == [None]
    rendered = await render_trigger("segments-export", events[0])
    assert rendered["credentials"] is None, "null, not the deployment's default block"
    exported = await run_triggered_export(rendered, tmp_path)
    env = sorted(s["_id"] for s in [*ACCOUNTS[TOKEN_ENV], NEW])
    assert exported == env, "the settings' account, not the default block's"


async def test_a_watch_of_members_refers_to_its_block_in_member_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BOTPENGUIN_API_TOKEN", raising=False)
    with SandboxServer() as server:
        name = f"members-{uuid.uuid4().hex[:8]}"
        await BotPenguinCredentials(api_token=server.token, base_url=server.url).save(name)
        run = {
            "credentials": name,
            "account": name,
            "state": str(tmp_path),
            "members": ["all"],
        }
        await segments_watch(**run)
        segment, (contact, *_) = next(iter(SAMPLE_MEMBERSHIP.items()))
        server.move_contact(contact, source=segment)
        result = await segments_watch(**run)
    events = await stored_events(result.event_ids)
    assert [event.event for event in events] == ["botpenguin.segment.members.changed"]
    reference = {"$ref": {"block_document_slug": f"botpenguin-credentials/{name}"}}
    assert events[0].payload["credentials"] == reference
    assert server.token not in json.dumps(events[0].model_dump(mode="json"))
    rendered = await render_trigger("segments-members-export", events[0])
    assert rendered["credentials"] == reference


async def test_an_event_without_credentials_cannot_start_an_export() -> None:
    """An event from before the key existed fails the action rather than fall back to the
    deployment's default block (another account's data under this account's name)."""
    created = Segment.model_validate({"_id": "seg-1", "segmentName": "VIP"})
    spec = change_event_specs(diff_segments([], [created]), "Old", fetched_at=datetime.now(UTC))
    payload = {k: v for k, v in spec[0]["payload"].items() if k != "credentials"}
    event = Event.model_validate({**spec[0], "payload": payload})
    with pytest.raises(HydrationError):
        await render_trigger("segments-export", event)
    rendered = await render_trigger("segments-export", Event.model_validate(spec[0]))
    assert rendered["credentials"] is None, "with the key (null), the same event starts it"


async def test_a_watch_with_an_unsaved_block_says_its_events_carry_null(
    sandbox: SandboxServer, tmp_path: Path, debug_logs: pytest.LogCaptureFixture
) -> None:
    """Python callers may pass a block never saved: nothing can refer to it, so the events
    carry null and the run warns that a triggered export reads the settings instead."""
    from prefect import flow

    from prefect_botpenguin.flows.watch import track_changes
    from prefect_botpenguin.segments import fetch_segments

    unsaved = BotPenguinCredentials(api_token=TOKEN_SHOP_B, base_url=sandbox.url)
    label = f"Unsaved {uuid.uuid4().hex[:8]}"

    @flow
    async def watch_twice() -> list[str]:
        state = str(tmp_path / "state")
        await track_changes(await fetch_segments.aio(unsaved), account=label, state=state)
        sandbox.set_segments([*ACCOUNTS[TOKEN_SHOP_B], NEW], token=TOKEN_SHOP_B)
        segments = await fetch_segments.aio(unsaved)
        result = await track_changes(segments, account=label, state=state, credentials=unsaved)
        return result.event_ids

    events = await stored_events(await watch_twice())
    assert [event.payload["credentials"] for event in events] == [None]
    warnings = [r.getMessage() for r in debug_logs.records if r.levelname == "WARNING"]
    assert any("is not saved" in w and "credentials=null" in w for w in warnings), warnings
    assert TOKEN_SHOP_B not in debug_logs.text


def test_only_a_saved_block_has_a_reference() -> None:
    assert credentials_reference(None) is None
    assert credentials_reference(BotPenguinCredentials(api_token="unsaved-token")) is None
