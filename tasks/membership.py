"""Membership changes for the watch: who joined and who left each watched segment.

The watch calls these in the same order as for segment changes, so nothing is "seen" before
it is saved: ``prepare_membership`` (load the last membership snapshot, diff; no side
effect) -> ``emit_membership_events`` (one ``botpenguin.segment.members.changed`` per
changed segment, confirmed by the API) -> the change artifact -> ``save_membership_snapshot``
-> the notification. A run failing before the save keeps the old snapshot, so the next run
reports the same change again with the same event ids.

Events, artifacts, logs and messages carry counts and at most ``SAMPLE_LIMIT`` contact ids
per side; the snapshot holds contact ids only. No contact's other fields go anywhere here.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prefect import get_run_logger

from ._dispatch import dual_task
from .changes import (
    CONFIRM_TIMEOUT,
    EVENT_ID_NAMESPACE,
    account_resource,
    confirm_events_delivered,
    emit_all,
)
from .core.accounts import account_slug
from .core.locations import display_location
from .core.membership_diff import (
    SAMPLE_LIMIT,
    MembershipChange,
    MembershipSnapshot,
    diff_membership,
    membership_digest_seed,
    membership_location,
    new_membership,
    read_membership,
    write_membership,
)
from .core.models import Segment
from .credentials import BotPenguinCredentials, credentials_reference
from .members import fetch_segment_members

if TYPE_CHECKING:
    pass

EVENT_MEMBERS_CHANGED = "botpenguin.segment.members.changed"
ALL_SEGMENTS = "all"
"""The ``members`` choice that watches every segment of the account."""


@dataclass(frozen=True)
class MembershipStep:
    """One run's membership comparison: what to emit, report and save."""

    account: str
    location: str
    current: MembershipSnapshot
    previous_fetched_at: datetime | None
    changes: list[MembershipChange] | None
    """None when there was no membership snapshot yet (this run records the baseline)."""

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def watched_segments(choice: list[str] | None, segments: list[Segment]) -> list[str]:
    """The segment ids to watch: every one for ``["all"]``, else those chosen that exist."""
    if not choice:
        return []
    known = [segment.id for segment in segments]
    if ALL_SEGMENTS in choice:
        return known
    missing = [sid for sid in dict.fromkeys(choice) if sid not in known]
    if missing:
        get_run_logger().warning(
            "Not watching the members of %d segment id(s) this account does not have: %s",
            len(missing),
            ", ".join(missing),
        )
    return [sid for sid in dict.fromkeys(choice) if sid in known]


async def collect_membership(
    credentials: BotPenguinCredentials | None,
    choice: list[str] | None,
    segments: list[Segment],
) -> dict[str, list[str]]:
    """The contact ids of each watched segment (``choice``: ids, or ``["all"]``)."""
    segment_ids = watched_segments(choice, segments)
    if not segment_ids:
        return {}
    found = await fetch_segment_members.aio(segment_ids, credentials, include_ids=True)
    return {m.segment_id: list(m.contact_ids or []) for m in found}


async def _prepare_membership(
    membership: dict[str, list[str]],
    account: str,
    state: str,
    segments: list[Segment],
    fetched_at: datetime | None = None,
) -> MembershipStep:
    """Load the last membership snapshot and diff it with ``membership``; saves nothing."""
    location = membership_location(state, account)
    previous = await asyncio.to_thread(read_membership, location)
    current = new_membership(account, fetched_at or datetime.now(UTC), membership)
    names = {segment.id: segment.name for segment in segments}
    logger = get_run_logger()
    if previous is None:
        logger.info(
            "No membership snapshot at %s yet: this run records the members' baseline",
            display_location(location),
        )
        changes = None
    else:
        changes = diff_membership(previous.segments, current.segments, names)
        logger.info("Members changed in %d of %d watched segment(s)", len(changes), len(membership))
    return MembershipStep(
        account=account,
        location=location,
        current=current,
        previous_fetched_at=previous.fetched_at if previous else None,
        changes=changes,
    )


def membership_change_id(
    changes: list[MembershipChange],
    account: str,
    *,
    previous_fetched_at: datetime | None = None,
) -> str:
    """One id for a membership change (like ``changes.change_id``), for the watch's outbox."""
    digest = hashlib.sha256(membership_digest_seed(changes).encode()).hexdigest()
    anchor = previous_fetched_at.isoformat() if previous_fetched_at else uuid.uuid4().hex
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{account_slug(account)}|{anchor}|members|{digest}"))


def membership_event_specs(
    changes: list[MembershipChange],
    account: str,
    *,
    previous_fetched_at: datetime | None = None,
    fetched_at: datetime | None = None,
    credentials: BotPenguinCredentials | None = None,
) -> list[dict[str, Any]]:
    """``emit_event`` arguments, one per changed segment; ids repeat on a re-run (changes.py).

    Like segment events, the payload's ``credentials`` refers to the block read (or is None).
    """
    occurred = fetched_at or datetime.now(UTC)
    reference = credentials_reference(credentials)
    digest = hashlib.sha256(membership_digest_seed(changes).encode()).hexdigest()
    anchor = previous_fetched_at.isoformat() if previous_fetched_at else uuid.uuid4().hex
    seed = f"{account_slug(account)}|{anchor}|{digest}"
    return [
        {
            "event": EVENT_MEMBERS_CHANGED,
            "resource": {
                "prefect.resource.id": f"botpenguin.segment.{change.segment_id}",
                "prefect.resource.name": change.name or change.segment_id,
            },
            "related": [account_resource(account)],
            "occurred": occurred,
            "payload": {
                "account": account,
                "credentials": reference,
                **change.payload(SAMPLE_LIMIT),
            },
            "id": uuid.uuid5(
                EVENT_ID_NAMESPACE, f"{seed}|{EVENT_MEMBERS_CHANGED}|{change.segment_id}"
            ),
        }
        for change in changes
    ]


async def _emit_membership_events(
    step: MembershipStep,
    confirm_timeout: float | None = CONFIRM_TIMEOUT,
    credentials: BotPenguinCredentials | None = None,
) -> list[str]:
    """Emit one ``botpenguin.segment.members.changed`` per changed segment and confirm them.

    ``credentials`` is the block the members were fetched with (None: settings); the events
    refer to it by name. Raises ``EventDeliveryError`` when Prefect cannot emit one, or the
    API does not return them all within ``confirm_timeout`` seconds; the membership snapshot
    is then not saved.
    """
    logger = get_run_logger()
    specs = membership_event_specs(
        step.changes or [],
        step.account,
        previous_fetched_at=step.previous_fetched_at,
        fetched_at=step.current.fetched_at,
        credentials=credentials,
    )
    if not specs:
        return []
    emitted = emit_all(
        specs,
        "membership change(s)",
        "see the Prefect log above (the membership snapshot is kept and the change is re-sent "
        "next time)",
    )
    if not emitted:
        return []
    if confirm_timeout is not None:  # by id, in a window from the events' own times
        await confirm_events_delivered(emitted, timeout=confirm_timeout)
    logger.info("Emitted %d membership change event(s) for account %r", len(emitted), step.account)
    return [str(event.id) for event in emitted]


async def _save_membership_snapshot(step: MembershipStep) -> str:
    """Save the run's contact ids per watched segment, atomically; returns the shown location."""
    await asyncio.to_thread(write_membership, step.current, step.location)
    shown = display_location(step.location)
    get_run_logger().info(
        "Saved membership snapshot of %d segment(s) to %s", len(step.current.segments), shown
    )
    return shown


__all__ = [
    "ALL_SEGMENTS",
    "EVENT_MEMBERS_CHANGED",
    "MembershipStep",
    "collect_membership",
    "emit_membership_events",
    "membership_event_specs",
    "prepare_membership",
    "save_membership_snapshot",
    "watched_segments",
]


aprepare_membership, prepare_membership = dual_task(
    _prepare_membership, name="load-botpenguin-membership"
)
aemit_membership_events, emit_membership_events = dual_task(
    _emit_membership_events, name="emit-botpenguin-membership-events"
)
asave_membership_snapshot, save_membership_snapshot = dual_task(
    _save_membership_snapshot, name="save-botpenguin-membership"
)
