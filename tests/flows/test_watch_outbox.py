"""The watch's outbox: no alert lost or doubled when a notification target fails (issue 12).

Each test runs ``segments_watch`` over real HTTP against the sandbox, on the session's Prefect
test server, with loopback webhook receivers; the state is a real snapshot file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from watch_readback import label, renamed_first, state_document
from webhooks import Hooks

from prefect_botpenguin.core.accounts import account_slug
from prefect_botpenguin.core.errors import NotificationError
from prefect_botpenguin.core.watch_state import target_key
from prefect_botpenguin.flows.watch import segments_watch
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS, SandboxServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]
TOKEN = "6a1c0ffee5a1e0000b0a7e12"


async def test_a_message_a_target_refused_goes_to_that_target_only_on_the_next_run(
    account: SandboxServer, hooks: Hooks, tmp_path: Path
) -> None:
    name = label()
    run = dict(account=name, state=str(tmp_path), notify=[hooks.url("/ok"), hooks.url("/down")])
    await segments_watch(**run)
    account.set_segments(renamed_first(), token=TOKEN)
    hooks.status["/down"] = 500

    failed = await segments_watch(**run, return_state=True)

    assert failed.is_failed()
    with pytest.raises(NotificationError, match=r"1 undelivered change message\(s\) stay"):
        await failed.result()
    (first,) = hooks.accepted("/ok")
    assert [d.path for d in hooks.received] == ["/ok", "/down"]
    (kept,) = state_document(tmp_path, name)["pending"]
    assert kept["id"] == first.change
    assert kept["delivered"] == [target_key(hooks.url("/ok"))]
    assert "127.0.0.1" not in json.dumps(kept["owed"]).replace("json://127.0.0.1", "")
    assert state_document(tmp_path, name)["segments"] == renamed_first(), "snapshot advanced"

    hooks.status["/down"] = 200
    retried = await segments_watch(**run)

    assert not retried.changed
    assert retried.notified == ["json://127.0.0.1"]
    assert retried.pending == 0
    (late,) = hooks.accepted("/down")
    assert late.change == first.change
    assert late.body["title"] == first.body["title"]
    assert late.body["message"].startswith("Delivered late: this message was due at")
    assert len(hooks.accepted("/ok")) == 1, "the target that had it never gets it twice"
    assert state_document(tmp_path, name)["pending"] == []

    await segments_watch(**run)
    assert len(hooks.received) == 3, "nothing left to send"


async def test_drop_pending_gives_up_undelivered_messages(
    account: SandboxServer, hooks: Hooks, tmp_path: Path
) -> None:
    name = label()
    run = dict(account=name, state=str(tmp_path), notify=[hooks.url("/down")])
    await segments_watch(**run)
    account.set_segments(renamed_first(), token=TOKEN)
    hooks.status["/down"] = 500
    assert (await segments_watch(**run, return_state=True)).is_failed()
    assert len(state_document(tmp_path, name)["pending"]) == 1

    dropped = await segments_watch(**run, drop_pending=True)

    assert dropped.pending == 0
    assert state_document(tmp_path, name)["pending"] == []
    assert len(hooks.received) == 1, "the dropped message is not tried again"


async def test_a_message_owed_to_a_target_this_run_lacks_waits_for_a_run_with_it(
    account: SandboxServer, hooks: Hooks, tmp_path: Path
) -> None:
    name = label()
    await segments_watch(account=name, state=str(tmp_path))
    account.set_segments(renamed_first(), token=TOKEN)
    hooks.status["/down"] = 500
    with_target = dict(account=name, state=str(tmp_path), notify=[hooks.url("/down")])
    assert (await segments_watch(**with_target, return_state=True)).is_failed()

    terminal = await segments_watch(account=name, state=str(tmp_path))  # no --notify

    assert terminal.pending == 1
    hooks.status["/down"] = 200
    await segments_watch(**with_target)
    assert [d.status for d in hooks.received] == [500, 200]
    assert state_document(tmp_path, name)["pending"] == []


async def test_a_version_1_snapshot_is_read_and_rewritten_as_version_2(
    account: SandboxServer, hooks: Hooks, tmp_path: Path
) -> None:
    name = label()
    (tmp_path / f"{account_slug(name)}.json").write_text(
        json.dumps(
            {
                "format": "prefect-botpenguin/segments-snapshot",
                "version": 1,
                "account": name,
                "fetched_at": "2025-01-01T00:00:00+00:00",
                "source": None,
                "segment_count": len(SAMPLE_SEGMENTS),
                "segments": SAMPLE_SEGMENTS,
            }
        ),
        encoding="utf-8",
    )
    account.set_segments(renamed_first(), token=TOKEN)

    result = await segments_watch(account=name, state=str(tmp_path), notify=[hooks.url("/a")])

    assert result.changed
    assert len(hooks.accepted()) == 1
    document = state_document(tmp_path, name)
    assert document["version"] == 2
    assert document["pending"] == []
    assert document["held_drops"] == 0
