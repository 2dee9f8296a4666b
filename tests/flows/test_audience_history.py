"""Issue 19's acceptance: quiet on drift, loud on what counts, five points per segment.

Against the sandbox with its data moving (changed through its control API over HTTP), a
real Prefect API and a loopback notification receiver: a baseline, two runs of +1% drift
with ticking timestamps, one audience at -60%, then a rename.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import pytest
from watch_readback import account_events, events_of, label

from prefect_botpenguin.core.size_history import history_location, read_history
from prefect_botpenguin.flows.watch import segments_watch
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS, SandboxServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]
TOKEN = "6a1c0ffee5a1e0000b0a7e19"
SWUNG = "6a1c0ffee5a1e0000b0a7e02"  # Clientes de São Paulo, 1287 contacts at first


def publish(sandbox: SandboxServer, records: list[dict[str, Any]]) -> None:
    """Replace the account's segments through the sandbox's control API."""
    reply = httpx.post(
        f"{sandbox.url}/_sandbox/segments", json={"segments": records, "token": TOKEN}
    )
    reply.raise_for_status()


def drifted(records: list[dict[str, Any]], tick: int) -> list[dict[str, Any]]:
    """Every audience +1% (a live account between two runs) and every timestamp ticked."""
    moved = copy.deepcopy(records)
    for record in moved:
        record["contactCount"] = round(record["contactCount"] * 1.01)
        record["updatedAt"] = f"2026-12-07T10:0{tick}:00.000Z"
    return moved


async def test_drift_stays_quiet_and_a_swing_and_a_rename_are_exactly_two_messages(
    account: SandboxServer, receiver, tmp_path: Path
) -> None:
    name = label()
    run = dict(account=name, state=str(tmp_path), notify=[receiver.url("/alerts", scheme="json")])
    records = copy.deepcopy(SAMPLE_SEGMENTS)

    assert (await segments_watch(**run)).baseline
    for tick in (1, 2):
        records = drifted(records, tick)
        publish(account, records)
        quiet = await segments_watch(**run)
        assert quiet.changed, "counts and timestamps did change"
        assert not quiet.notable
    assert receiver.requests == [], "drift and bookkeeping are recorded, not announced"

    swing = next(record for record in records if record["_id"] == SWUNG)
    assert swing["contactCount"] == 1313
    swing["contactCount"] = round(1313 * 0.4)
    publish(account, records)
    swung = await segments_watch(**run)
    assert swung.resized == [SWUNG]

    records[0]["segmentName"] = "VIP tea circle"
    publish(account, records)
    renamed = await segments_watch(**run)
    assert renamed.notable
    assert renamed.resized == []

    assert len(receiver.requests) == 2
    first, second = (request.json() for request in receiver.requests)
    assert first["title"].endswith(": 1 resized")
    assert (
        '"Clientes de São Paulo" [6a1c0ffee5a1e0000b0a7e02]: 1313 -> 525 (-60%)'
        in (first["message"])
    )
    assert "trend ███▁ 1287 → 525 (-59%)" in first["message"], "the compact trend line"
    assert second["title"].endswith(": 1 renamed")
    assert '"VIP tea club" -> "VIP tea circle"' in second["message"]

    history = read_history(history_location(str(tmp_path), name))
    assert history is not None
    assert {len(points) for points in history.points.values()} == {5}
    assert len(history.points) == len(SAMPLE_SEGMENTS)
    assert history.sizes(SWUNG) == [1287, 1300, 1313, 525, 525]

    (resized,) = await events_of(name, "botpenguin.segment.resized")
    assert resized.payload["before"] == 1313
    assert resized.payload["after"] == 525
    assert resized.payload["percent"] == -60.0
    assert resized.resource["botpenguin.swing"] == "060"
    assert resized.payload["change"] is not None
    assert resized.payload["change"] in first["message"], "the event names its message"


async def test_schema_drift_is_one_event_and_one_message_then_quiet(
    account: SandboxServer, receiver, tmp_path: Path
) -> None:
    name = label()
    run = dict(account=name, state=str(tmp_path), notify=[receiver.url("/alerts", scheme="json")])
    await segments_watch(**run)
    tiered = [{**record, "tier": "gold"} for record in SAMPLE_SEGMENTS]
    publish(account, tiered)
    drifted_run = await segments_watch(**run)
    publish(account, [*tiered, {"_id": "6a1c0ffee5a1e0000b0a7e09", "segmentName": "Sparse"}])
    sparse_run = await segments_watch(**run)

    assert drifted_run.notable
    (event,) = await account_events(name, "botpenguin.segments.schema-changed")
    assert event.payload["appeared"] == ["tier"]
    assert event.resource.id.startswith("botpenguin.account.")
    titles = [request.json()["title"] for request in receiver.requests]
    assert titles[0].endswith("schema changed"), titles
    assert "appeared: tier" in receiver.requests[0].json()["message"]
    assert sparse_run.notable, "a created segment is news"
    assert titles[1].endswith(": 1 created"), "a new sparse segment is no drift"
    assert len(await account_events(name, "botpenguin.segments.schema-changed")) == 1
