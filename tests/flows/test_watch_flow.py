"""``segments_watch`` end to end: sandbox over HTTP, a real Prefect API, a loopback receiver."""

from __future__ import annotations

import copy
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.events import Event
from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter
from prefect_readback import latest_artifact, read_all_events

from prefect_botpenguin.core.accounts import account_slug
from prefect_botpenguin.core.errors import (
    AuthenticationError,
    NotificationError,
    SnapshotError,
)
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.flows.cli import main
from prefect_botpenguin.flows.watch import segments_watch
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS, Fault, SandboxServer
from prefect_botpenguin.snapshots import Snapshot, snapshot_location, write_snapshot

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]
TOKEN = "6a1c0ffee5a1e0000b0a7eaa"


def label() -> str:
    return f"Larkspur {uuid.uuid4().hex[:8]}"


def a_day_later() -> list[dict[str, Any]]:
    records = copy.deepcopy(SAMPLE_SEGMENTS)
    records[0]["segmentName"] = "VIP tea circle"
    records[1]["contactCount"] = 1300
    del records[5]
    records.append({"_id": "6a1c0ffee5a1e0000b0a7e07", "segmentName": "Winter warmers"})
    return records


async def account_events(account_label: str) -> list[Event]:
    async with get_client() as client:
        events = await read_all_events(
            client,
            EventFilter(
                event=EventNameFilter(prefix=["botpenguin.segment."]),
                related=EventRelatedFilter(
                    id=[f"botpenguin.account.{account_slug(account_label)}"]
                ),
            ),
            limit=50,
        )
    return events


async def latest_markdown(key: str) -> str:
    data = (await latest_artifact(key)).data
    assert isinstance(data, str)
    return data


async def test_first_run_records_a_baseline_without_events_or_messages(
    account: SandboxServer, receiver, tmp_path: Path
) -> None:
    name = label()
    result = await segments_watch(
        account=name, state=str(tmp_path), notify=[receiver.url(scheme="json")]
    )

    assert result.baseline
    assert "baseline recorded (6 segments)" in result.message.subject
    assert result.event_ids == []
    assert receiver.requests == [], "no message for a baseline unless always_notify"
    document = json.loads((tmp_path / f"{account_slug(name)}.json").read_text(encoding="utf-8"))
    assert document["segments"] == SAMPLE_SEGMENTS
    assert "Baseline recorded" in await latest_markdown(f"botpenguin-changes-{account_slug(name)}")
    assert await account_events(name) == []


async def test_watch_across_a_change_emits_events_and_notifies_once_then_stays_quiet(
    account: SandboxServer, receiver
) -> None:
    name = label()
    state = f"memory://watch-{uuid.uuid4().hex}"
    run = dict(account=name, state=state, notify=[receiver.url("/alerts", scheme="json")])

    await segments_watch(**run)
    account.set_segments(a_day_later(), token=TOKEN)
    changed = await segments_watch(**run)

    assert changed.changed
    events = await account_events(name)
    assert sorted(str(e.id) for e in events) == sorted(changed.event_ids)
    seen = sorted((e.event, e.resource.id) for e in events)
    assert seen == [
        ("botpenguin.segment.changed", "botpenguin.segment.6a1c0ffee5a1e0000b0a7e01"),
        ("botpenguin.segment.changed", "botpenguin.segment.6a1c0ffee5a1e0000b0a7e02"),
        ("botpenguin.segment.created", "botpenguin.segment.6a1c0ffee5a1e0000b0a7e07"),
        ("botpenguin.segment.removed", "botpenguin.segment.6a1c0ffee5a1e0000b0a7e06"),
    ]
    rename = next(e for e in events if e.resource.id.endswith("e01"))
    assert rename.payload["renamed"] is True
    assert rename.payload["before"] == {"segmentName": "VIP tea club"}
    assert rename.payload["after"] == {"segmentName": "VIP tea circle"}
    assert rename.resource.name == "VIP tea circle"
    related_roles = {r.role for r in rename.related}
    assert {"account", "flow-run"} <= related_roles, "the run is linked too"

    recount = next(e for e in events if e.resource.id.endswith("e02"))
    assert recount.payload["kinds"] == ["size"], "+1% is size drift: an event, not news"
    assert (recount.resource["botpenguin.notifies"], rename.resource["botpenguin.kinds"]) == (
        "false",
        "definition",
    )

    (message,) = receiver.requests
    body = message.json()
    assert message.path == "/alerts"
    assert body["title"].endswith(": 1 created, 1 removed, 1 renamed")
    assert '"VIP tea club" -> "VIP tea circle"' in body["message"]
    assert "contactCount: 1287 -> 1300" not in body["message"]
    assert "Recorded, not announced: 1 segment(s)" in body["message"]
    assert '+ "Winter warmers"' in body["message"]
    assert '- "Lapsed subscribers (2023)"' in body["message"]
    markdown = await latest_markdown(f"botpenguin-changes-{account_slug(name)}")
    assert "| VIP tea club | VIP tea circle |" in markdown

    quiet = await segments_watch(**run)
    assert not quiet.changed
    assert len(receiver.requests) == 1, "no change, no message"
    assert len(await account_events(name)) == len(events), "no change, no event"


async def test_failed_notification_fails_the_run_after_the_snapshot_is_saved(
    account: SandboxServer, receiver, tmp_path: Path
) -> None:
    receiver.status = 500
    name = label()

    state = await segments_watch(
        account=name,
        state=str(tmp_path),
        notify=[receiver.url(scheme="json")],
        always_notify=True,
        return_state=True,
    )

    assert state.is_failed()
    with pytest.raises(NotificationError, match=r"json://127\.0\.0\.1 failed.*Nothing is lost"):
        await state.result()
    assert len(receiver.requests) == 1
    saved = json.loads((tmp_path / f"{account_slug(name)}.json").read_text(encoding="utf-8"))
    assert saved["segments"] == SAMPLE_SEGMENTS, "the snapshot was written before notifying"


async def test_always_notify_reports_baseline_and_quiet_runs(
    account: SandboxServer, receiver, tmp_path: Path
) -> None:
    run = dict(
        account=label(),
        state=str(tmp_path),
        notify=[receiver.url(scheme="json")],
        always_notify=True,
    )
    await segments_watch(**run)
    await segments_watch(**run)

    titles = [request.json()["title"] for request in receiver.requests]
    assert len(titles) == 2
    assert "baseline recorded" in titles[0]
    assert "no segment changes" in titles[1]


async def test_a_failed_fetch_leaves_the_snapshot_byte_identical(
    account: SandboxServer, tmp_path: Path
) -> None:
    name = label()
    await segments_watch(account=name, state=str(tmp_path))
    snapshot = tmp_path / f"{account_slug(name)}.json"
    history = tmp_path / f"{account_slug(name)}.history.json"
    before, sizes = snapshot.read_bytes(), history.read_bytes()
    account.set_segments(a_day_later(), token=TOKEN)
    account.inject(Fault.status_code(401))

    with pytest.raises(AuthenticationError):
        await segments_watch(account=name, state=str(tmp_path))

    assert snapshot.read_bytes() == before
    assert history.read_bytes() == sizes, "a failed run adds no size point"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([snapshot.name, history.name])


async def test_two_cyrillic_accounts_keep_separate_snapshots_and_no_phantom_changes(
    account: SandboxServer, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    moscow, piter = f"Магазин Москва {suffix}", f"Магазин Питер {suffix}"

    await segments_watch(account=moscow, state=str(tmp_path))
    account.set_segments(a_day_later(), token=TOKEN)
    other = await segments_watch(account=piter, state=str(tmp_path))

    assert other.baseline, "Piter's first run is its own baseline, not a diff with Moscow"
    assert not other.changed
    files = sorted(p.name for p in tmp_path.iterdir())
    slugs = [account_slug(moscow), account_slug(piter)]
    assert files == sorted([f"{slug}{end}" for slug in slugs for end in (".json", ".history.json")])
    assert "default.json" not in files


async def test_a_snapshot_recorded_for_another_label_is_refused_and_kept(
    account: SandboxServer, tmp_path: Path
) -> None:
    name = label()
    await segments_watch(account=name, state=str(tmp_path))
    snapshot = tmp_path / f"{account_slug(name)}.json"
    before = snapshot.read_bytes()
    sharing = name.upper()  # another label, same file name
    assert account_slug(sharing) == account_slug(name)

    with pytest.raises(SnapshotError, match=f"recorded for account '{name}', not '{sharing}'"):
        await segments_watch(account=sharing, state=str(tmp_path))

    assert snapshot.read_bytes() == before


async def test_a_snapshot_from_a_clock_hours_ahead_does_not_block_event_delivery(
    account: SandboxServer, tmp_path: Path
) -> None:
    # The snapshot was taken on a machine whose clock runs three hours ahead of this one.
    name = label()
    ahead = datetime.now(UTC) + timedelta(hours=3)
    write_snapshot(
        Snapshot(
            account=name,
            fetched_at=ahead,
            segments=tuple(Segment.model_validate(r) for r in a_day_later()),
        ),
        snapshot_location(str(tmp_path), name),
    )
    started = time.monotonic()

    result = await segments_watch(account=name, state=str(tmp_path))

    assert result.changed
    assert time.monotonic() - started < 25, "confirmed without waiting out the timeout"
    events = await account_events(name)
    assert sorted(str(e.id) for e in events) == sorted(result.event_ids)


def test_watch_command_prints_what_changed_since_the_stored_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = label()
    older = copy.deepcopy(SAMPLE_SEGMENTS)
    older[2]["segmentName"] = "Coffee lovers"
    write_snapshot(
        Snapshot(
            account=name,
            fetched_at="2025-01-01T00:00:00Z",  # type: ignore[arg-type]
            segments=tuple(Segment.model_validate(r) for r in older),
        ),
        snapshot_location(str(tmp_path), name),
    )

    code = main(["watch", "--sandbox", "--state", str(tmp_path), "--account", name, "--debug"])

    out = capsys.readouterr().out
    assert code == 0
    assert "1 renamed (SAMPLE DATA from the sandbox)" in out
    assert '~ "Coffee lovers" -> "Café ☕ lovers"' in out
    assert f"Snapshot: {tmp_path}" in out
