"""What a watch left behind, read back: its snapshot file and the events it emitted."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

from prefect.client.orchestration import get_client
from prefect.events import Event
from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter
from prefect_readback import read_all_events

from prefect_botpenguin.core.accounts import account_slug
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS
from prefect_botpenguin.snapshots import snapshot_location


def label() -> str:
    return f"Larkspur {uuid.uuid4().hex[:8]}"


def renamed_first() -> list[dict[str, Any]]:
    records = copy.deepcopy(SAMPLE_SEGMENTS)
    records[0]["segmentName"] = "VIP tea circle"
    return records


def state_document(state: Path, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        Path(snapshot_location(str(state), name)).read_text(encoding="utf-8")
    )
    return document


async def events_of(name: str, prefix: str = "botpenguin.segment.") -> list[Event]:
    async with get_client() as client:
        events = await read_all_events(
            client,
            EventFilter(
                event=EventNameFilter(prefix=[prefix]),
                related=EventRelatedFilter(id=[f"botpenguin.account.{account_slug(name)}"]),
            ),
            limit=50,
        )
    return events


async def account_events(name: str, event: str) -> list[Event]:
    """Events whose *resource* is the account (the drop guard's), by exact name."""
    async with get_client() as client:
        events = await read_all_events(
            client,
            EventFilter(event=EventNameFilter(name=[event])),
            limit=50,
        )
    resource = f"botpenguin.account.{account_slug(name)}"
    return [e for e in events if e.resource.id == resource]
