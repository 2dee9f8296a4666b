"""The drop guard: an empty or shrunken answer is held, not reported as removals (issue 12).

Each test runs ``segments_watch`` over real HTTP against the sandbox, on the session's Prefect
test server, with loopback webhook receivers; the state is a real snapshot file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from watch_readback import account_events, events_of, label, state_document
from webhooks import Hooks

from prefect_botpenguin.core.size_history import history_location
from prefect_botpenguin.flows.watch import segments_watch
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS, Fault, SandboxServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]
TOKEN = "6a1c0ffee5a1e0000b0a7e12"


async def test_an_empty_answer_after_a_full_snapshot_is_held_not_reported_as_removals(
    account: SandboxServer,
    hooks: Hooks,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = label()
    run = dict(account=name, state=str(tmp_path), notify=[hooks.url("/a")])
    await segments_watch(**run)
    saved = state_document(tmp_path, name)
    history = Path(history_location(str(tmp_path), name))
    sizes = history.read_bytes()
    account.inject(Fault(body={"success": True, "message": "", "data": [], "code": 200}))

    held = await segments_watch(**run)

    assert held.held_drop
    assert history.read_bytes() == sizes, "a held run adds no size point"
    assert held.history is None
    assert not held.changed
    assert held.event_ids
    assert hooks.received == [], "no message about a drop that is not trusted yet"
    assert await events_of(name) == [], "no removal events"
    (suspicious,) = await account_events(name, "botpenguin.segments.suspicious-drop")
    assert suspicious.payload == {  # the fields deployments/EVENTS.md promises
        "account": name,
        "credentials": None,
        "previous_count": 6,
        "current_count": 0,
        "lost": 6,
        "held_runs": 1,
        "runs_needed": 2,
        "previous_fetched_at": saved["fetched_at"],
    }
    assert "Suspicious drop held" in caplog.text
    after = state_document(tmp_path, name)
    assert after["segments"] == saved["segments"]
    assert after["fetched_at"] == saved["fetched_at"]
    assert after["held_drops"] == 1

    recovered = await segments_watch(**run)  # the API answers in full again

    assert not recovered.changed
    assert not recovered.held_drop
    assert hooks.received == []
    assert await events_of(name) == [], "nothing created either"
    assert state_document(tmp_path, name)["held_drops"] == 0


async def test_a_drop_seen_on_consecutive_runs_is_accepted_and_reported(
    account: SandboxServer, hooks: Hooks, tmp_path: Path
) -> None:
    name = label()
    run = dict(account=name, state=str(tmp_path), notify=[hooks.url("/a")])
    await segments_watch(**run)
    account.set_segments(SAMPLE_SEGMENTS[:1], token=TOKEN)  # 5 of 6 gone

    first = await segments_watch(**run)
    second = await segments_watch(**run)

    assert first.held_drop
    assert second.diff is not None
    assert len(second.diff.removed) == 5
    assert len(await events_of(name)) == 5
    (message,) = hooks.accepted()
    assert "5 removed" in message.body["title"]


async def test_accept_drop_reports_a_drop_at_once(
    account: SandboxServer, hooks: Hooks, tmp_path: Path
) -> None:
    name = label()
    await segments_watch(account=name, state=str(tmp_path))
    account.set_segments([], token=TOKEN)

    accepted = await segments_watch(account=name, state=str(tmp_path), accept_drop=True)

    assert accepted.diff is not None
    assert len(accepted.diff.removed) == 6
    assert state_document(tmp_path, name)["segments"] == []


async def test_the_drop_guard_share_is_configurable_and_a_smaller_loss_is_reported_at_once(
    account: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = label()
    await segments_watch(account=name, state=str(tmp_path))
    account.set_segments(SAMPLE_SEGMENTS[:3], token=TOKEN)  # half gone: not "more than half"

    reported = await segments_watch(account=name, state=str(tmp_path))
    assert reported.diff is not None
    assert len(reported.diff.removed) == 3

    monkeypatch.setenv("BOTPENGUIN_DROP_GUARD_SHARE", "0.3")
    account.set_segments(SAMPLE_SEGMENTS[:1], token=TOKEN)  # 2 of 3 gone
    assert (await segments_watch(account=name, state=str(tmp_path))).held_drop
