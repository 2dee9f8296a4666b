"""The drop guard: a fetch that suddenly lost most segments is held, not reported.

An API that answers an empty list once (a glitch, a wrong token scope, a half-migrated
account) would otherwise be reported as "every segment removed", and the next good answer as
"every segment created". A fetch that lost all segments, or more than
``BOTPENGUIN_DROP_GUARD_SHARE`` (0.5) of them, after a non-empty snapshot is therefore held:
no removal events, no message, the snapshot kept; instead one
``botpenguin.segments.suspicious-drop`` event and a warning. The drop is accepted when
``BOTPENGUIN_DROP_GUARD_RUNS`` (2) consecutive runs see it, or at once with ``--accept-drop``
(flow parameter ``accept_drop=True``).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, datetime

from prefect import get_run_logger, task

from ._dispatch import PACK_TASK_OPTIONS
from .changes import EVENT_ID_NAMESPACE, account_resource, confirm_events_delivered
from .core.accounts import account_slug
from .core.errors import EventDeliveryError
from .core.watch import HeldDrop
from .credentials import BotPenguinCredentials, credentials_reference

EVENT_SUSPICIOUS_DROP = "botpenguin.segments.suspicious-drop"


@task(name="hold-botpenguin-suspicious-drop", **PACK_TASK_OPTIONS)
async def report_suspicious_drop(
    account: str,
    held: HeldDrop,
    *,
    previous_fetched_at: datetime,
    fetched_at: datetime | None = None,
    credentials: BotPenguinCredentials | None = None,
) -> str | None:
    """Warn and emit ``botpenguin.segments.suspicious-drop`` for a held fetch; its event id.

    ``held`` is the drop as ``core.watch.decide`` held it; the payload carries its fields.
    Its payload's ``credentials`` refers to the block read, as on change events.
    """
    from prefect.events import emit_event
    from prefect.events.worker import should_emit_events

    fetched_at = fetched_at or datetime.now(UTC)
    get_run_logger().warning(
        "Suspicious drop held for account %r: the API returned %d segment(s) where the snapshot "
        "of %s has %d (%d gone). Nothing is reported and the snapshot is kept; it is accepted if "
        "%d more run(s) in a row see it, or now with --accept-drop (accept_drop=True).",
        account,
        held.current_count,
        previous_fetched_at.isoformat(),
        held.previous_count,
        held.lost,
        held.runs_left,
    )
    if not should_emit_events():
        return None
    seed = f"{account_slug(account)}|{previous_fetched_at.isoformat()}|drop|{held.held_runs}"
    event = emit_event(
        event=EVENT_SUSPICIOUS_DROP,
        resource={
            k: v for k, v in account_resource(account).items() if k != "prefect.resource.role"
        },
        occurred=fetched_at,
        payload={
            "account": account,
            "credentials": credentials_reference(credentials),
            **asdict(held),  # previous_count, current_count, lost, held_runs, runs_needed
            "previous_fetched_at": previous_fetched_at.isoformat(),
        },
        id=uuid.uuid5(EVENT_ID_NAMESPACE, seed),
    )
    if event is None:
        raise EventDeliveryError(
            f"Prefect could not emit {EVENT_SUSPICIOUS_DROP} for account {account!r}; see the "
            "Prefect log above for the cause."
        )
    await confirm_events_delivered([event])  # by id, in a window from its own time
    return str(event.id)
