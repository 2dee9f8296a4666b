"""Telling Prefect what the size history saw: audiences that swung, and schema drift.

    botpenguin.segment.resized           one per segment whose size moved past the threshold
                                         since the previous run; payload before, after,
                                         percent (counts only, never a contact)
    botpenguin.segments.schema-changed   one per run whose fields drifted (appeared in or left
                                         every segment, or changed JSON type); payload the
                                         field names, never values

A resized event's resource is the segment, with the labels ``botpenguin.swing`` (the whole
percent as three digits, ``060`` for -60%; see ``core.thresholds.swing_label``) and
``botpenguin.direction`` (``up`` / ``down``), so a trigger can match "past N%" without
reading payloads. A schema-changed event's resource is the account. Both carry the account
as related resource, the change message's id (``change``) and the credentials reference, as
segment events do (``changes``). Ids repeat when a failed run is run again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prefect import get_run_logger, task

from ._dispatch import PACK_TASK_OPTIONS
from .changes import EVENT_ID_NAMESPACE, account_resource, confirm_events_delivered, emit_all
from .core.accounts import account_slug
from .core.schema_drift import SchemaDrift
from .core.thresholds import Resize, swing_label
from .credentials import BotPenguinCredentials, credentials_reference

if TYPE_CHECKING:
    pass

EVENT_RESIZED = "botpenguin.segment.resized"
EVENT_SCHEMA_CHANGED = "botpenguin.segments.schema-changed"


def history_event_specs(
    account: str,
    *,
    resizes: Mapping[str, Resize],
    drift: SchemaDrift,
    names: Mapping[str, str | None],
    change: str | None,
    previous_fetched_at: datetime | None,
    fetched_at: datetime | None = None,
    credentials: BotPenguinCredentials | None = None,
) -> list[dict[str, Any]]:
    """``emit_event`` arguments: one resized event per resize, one schema-changed on drift."""
    occurred = fetched_at or datetime.now(UTC)
    anchor = previous_fetched_at.isoformat() if previous_fetched_at else uuid.uuid4().hex
    seed = f"{account_slug(account)}|{anchor}"
    common = {"account": account, "credentials": credentials_reference(credentials)}
    specs = []
    for segment_id, move in resizes.items():
        specs.append(
            {
                "event": EVENT_RESIZED,
                "resource": {
                    "prefect.resource.id": f"botpenguin.segment.{segment_id}",
                    "prefect.resource.name": names.get(segment_id) or segment_id,
                    "botpenguin.swing": swing_label(move),
                    "botpenguin.direction": "up" if move.after > move.before else "down",
                },
                "related": [account_resource(account)],
                "occurred": occurred,
                "payload": {**common, "change": change, **move.to_dict()},
                "id": uuid.uuid5(EVENT_ID_NAMESPACE, f"{seed}|{EVENT_RESIZED}|{segment_id}"),
            }
        )
    if drift:
        resource = account_resource(account)
        del resource["prefect.resource.role"]
        specs.append(
            {
                "event": EVENT_SCHEMA_CHANGED,
                "resource": resource,
                "related": [],
                "occurred": occurred,
                "payload": {**common, "change": change, **drift.to_dict()},
                "id": uuid.uuid5(EVENT_ID_NAMESPACE, f"{seed}|{EVENT_SCHEMA_CHANGED}"),
            }
        )
    return specs


@task(name="emit-botpenguin-history-events", **PACK_TASK_OPTIONS)
async def emit_history_events(specs: list[dict[str, Any]]) -> list[str]:
    """Emit ``history_event_specs`` and wait until the API has them all; their ids.

    Raises ``EventDeliveryError`` when Prefect cannot emit one or the API does not return
    them in time; the watch then saves nothing and the next run re-sends the same ids.
    """
    if not specs:
        return []
    emitted = emit_all(
        specs,
        "history event(s)",
        "see the Prefect log above (a watch run keeps its old snapshot and re-sends it next time)",
    )
    if not emitted:
        return []
    await confirm_events_delivered(emitted)
    get_run_logger().info("Emitted %d resize and schema event(s)", len(emitted))
    return [str(event.id) for event in emitted]
