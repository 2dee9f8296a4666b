"""The watch reports who joined and left segments: counts and a few ids, never contacts.

The sandbox moves invented contacts between segments over its control API between runs; the
watch runs in-process against a real Prefect API and a loopback notification receiver.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.events import Event
from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter
from prefect_readback import latest_artifact, read_all_events

from prefect_botpenguin.change_summary import changes_artifact_key
from prefect_botpenguin.core.accounts import account_slug
from prefect_botpenguin.core.errors import EventDeliveryError
from prefect_botpenguin.core.membership_diff import membership_location
from prefect_botpenguin.core.size_history import history_location, read_history
from prefect_botpenguin.flows.cli import main
from prefect_botpenguin.flows.sync import WatchStep, segments_sync
from prefect_botpenguin.flows.watch import segments_watch
from prefect_botpenguin.membership import EVENT_MEMBERS_CHANGED
from prefect_botpenguin.sandbox import (
    SAMPLE_CONTACTS,
    SAMPLE_MEMBERSHIP,
    SAMPLE_SEGMENTS,
    SandboxServer,
)
from prefect_botpenguin.snapshots import snapshot_location

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

SEGMENTS = list(SAMPLE_MEMBERSHIP)
NEEDLES = sorted(
    {str(c[key]) for c in SAMPLE_CONTACTS for key in ("name", "email", "phone") if key in c}
)


def contact(n: int) -> str:
    return f"c0ffee00000000000000c0{n:02d}"


def assert_no_contacts(where: str, text: str) -> None:
    found = [needle for needle in NEEDLES if needle in text]
    assert not found, f"contact data leaked into {where}: {len(found)} value(s)"


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    with SandboxServer(member_page_size=2) as server:
        monkeypatch.setenv("BOTPENGUIN_BASE_URL", server.url)
        monkeypatch.setenv("BOTPENGUIN_API_TOKEN", server.token)
        monkeypatch.delenv("BOTPENGUIN_ACCOUNT", raising=False)
        yield server


def move(server: SandboxServer, contact_id: str, source: str | None, target: str | None) -> None:
    """Move a contact through the sandbox's control API, as an operator would."""
    body = {"contact_id": contact_id, "from": source, "to": target}
    httpx.post(f"{server.url}/_sandbox/members", json=body, timeout=10).raise_for_status()


def move_three(server: SandboxServer) -> None:
    """Segment 0: one joined and one left; segment 1: one joined; segment 3: one left."""
    move(server, contact(5), SEGMENTS[0], SEGMENTS[1])
    move(server, contact(4), None, SEGMENTS[0])
    move(server, contact(3), SEGMENTS[3], None)


async def member_events(label: str) -> list[Event]:
    async with get_client() as client:
        events = await read_all_events(
            client,
            EventFilter(
                event=EventNameFilter(name=[EVENT_MEMBERS_CHANGED]),
                related=EventRelatedFilter(id=[f"botpenguin.account.{account_slug(label)}"]),
            ),
            limit=50,
        )
    return events


def new_label() -> str:
    return f"Members {uuid.uuid4().hex[:8]}"


async def test_members_that_move_are_reported_per_segment_as_counts_without_contacts(
    sandbox: SandboxServer, receiver, tmp_path: Path, debug_logs: pytest.LogCaptureFixture
) -> None:
    label = new_label()
    run = dict(
        account=label, state=str(tmp_path), notify=[receiver.url(scheme="json")], members=["all"]
    )

    baseline = await segments_watch(**run)
    assert baseline.members is None
    assert await member_events(label) == [], "the first run is a baseline"
    assert receiver.requests == []

    move_three(sandbox)
    changed = await segments_watch(**run)
    markdown = (await latest_artifact(changes_artifact_key(label))).data
    quiet = await segments_watch(**run)

    events = sorted(await member_events(label), key=lambda e: SEGMENTS.index(e.resource.id[19:]))
    counts = {e.resource.id: {k: e.payload[k] for k in ("joined", "left")} for e in events}
    assert counts == {
        f"botpenguin.segment.{SEGMENTS[0]}": {"joined": 1, "left": 1},
        f"botpenguin.segment.{SEGMENTS[1]}": {"joined": 1, "left": 0},
        f"botpenguin.segment.{SEGMENTS[3]}": {"joined": 0, "left": 1},
    }
    first = events[0]
    assert first.payload["members"] == len(SAMPLE_MEMBERSHIP[SEGMENTS[0]])
    assert first.payload["joined_sample"] == [contact(4)]
    assert first.payload["left_sample"] == [contact(5)]
    assert first.related[0].id == f"botpenguin.account.{account_slug(label)}"
    assert {str(e.id) for e in events} <= set(changed.event_ids)
    assert changed.changed
    assert quiet.members == []
    assert not quiet.changed

    (message,) = receiver.requests  # the quiet run sends nothing
    body = message.json()["message"]
    assert "3 segment(s): 2 joined, 2 left" in message.json()["title"]
    assert f"[{SEGMENTS[0]}]: +1 joined, -1 left" in body
    assert isinstance(markdown, str)
    assert f"| `{SEGMENTS[3]}` | 0 | 1 |" in markdown

    snapshot = Path(membership_location(str(tmp_path), label))
    assert stat.S_IMODE(os.stat(snapshot).st_mode) == 0o600
    document = json.loads(snapshot.read_text())
    assert document["format"] == "prefect-botpenguin/membership-snapshot"
    assert contact(4) in document["segments"][SEGMENTS[0]]
    for where, text in [
        ("events", json.dumps([e.model_dump(mode="json") for e in events])),
        ("the notification", message.body.decode()),
        ("the artifact", markdown),
        ("the membership snapshot", snapshot.read_text()),
        ("the logs", debug_logs.text),
        ("the results", repr([baseline, changed, quiet])),
    ]:
        assert_no_contacts(where, text)
    assert "Members changed in 3 of 6 watched segment(s)" in debug_logs.text


async def test_a_failed_event_confirmation_leaves_both_snapshots_unchanged(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    label = new_label()
    await segments_watch(account=label, state=str(tmp_path), members=[SEGMENTS[0]])
    members_file = Path(membership_location(str(tmp_path), label))
    segments_file = Path(snapshot_location(str(tmp_path), label))
    before = members_file.read_bytes(), segments_file.read_bytes()
    move(sandbox, contact(4), None, SEGMENTS[0])

    async def never_confirmed(events: list[Event], *, timeout: float) -> None:
        raise EventDeliveryError("1 of 1 change event(s) did not reach the Prefect API")

    with monkeypatch.context() as patched:
        patched.setattr("prefect_botpenguin.membership.confirm_events_delivered", never_confirmed)
        with pytest.raises(EventDeliveryError):
            await segments_watch(account=label, state=str(tmp_path), members=[SEGMENTS[0]])
    assert (members_file.read_bytes(), segments_file.read_bytes()) == before

    retried = await segments_watch(account=label, state=str(tmp_path), members=[SEGMENTS[0]])
    assert retried.members is not None
    assert [(c.segment_id, c.joined) for c in retried.members] == [(SEGMENTS[0], (contact(4),))]
    assert len(await member_events(label)) == 1, "the re-sent event has the same id"


async def test_member_counts_feed_the_size_history_when_the_api_sends_no_count(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    uncounted = [{k: v for k, v in s.items() if k != "contactCount"} for s in SAMPLE_SEGMENTS]
    httpx.post(f"{sandbox.url}/_sandbox/segments", json={"segments": uncounted}).raise_for_status()
    run = dict(account=new_label(), state=str(tmp_path), members=[SEGMENTS[0]])
    await segments_watch(**run)
    move(sandbox, contact(4), None, SEGMENTS[0])
    second = await segments_watch(**run)

    history = read_history(history_location(str(tmp_path), str(run["account"])))
    assert history is not None
    assert list(history.points) == [SEGMENTS[0]], "only the measured segment has a size"
    size = len(SAMPLE_MEMBERSHIP[SEGMENTS[0]])
    assert history.sizes(SEGMENTS[0]) == [size, size + 1]
    assert {point.source for point in history.points[SEGMENTS[0]]} == {"members"}
    assert second.resized == [], "one contact more is below the threshold"
    assert second.history is not None


async def test_sync_watches_chosen_segments_and_ignores_unknown_ids(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    label = new_label()
    step = WatchStep(state=str(tmp_path), members=[SEGMENTS[1], "6a1c0ffee5a1e0000b0affff"])
    await segments_sync(account=label, publish_artifacts=False, watch=step)
    move(sandbox, contact(1), None, SEGMENTS[1])
    move(sandbox, contact(3), SEGMENTS[3], None)  # not watched

    result = await segments_sync(account=label, publish_artifacts=False, watch=step)

    assert result.watch is not None
    assert result.watch.members is not None
    assert [(c.segment_id, len(c.joined)) for c in result.watch.members] == [(SEGMENTS[1], 1)]
    document = json.loads(Path(membership_location(str(tmp_path), label)).read_text())
    assert list(document["segments"]) == [SEGMENTS[1]]


def test_watch_command_takes_members(
    sandbox: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["watch", "--account", new_label(), "--state", str(tmp_path), "--members", "all"]
    assert main(args) == 0
    move(sandbox, contact(8), SEGMENTS[1], None)
    assert main(args) == 0

    out = capsys.readouterr().out
    assert "members changed in 1 segment(s): 0 joined, 1 left" in out
    assert_no_contacts("the command's output", out)
