"""Telling Prefect what changed: one event per segment, for automations to trigger on.

    botpenguin.segment.created   payload before=None, after=<segment>
    botpenguin.segment.removed   payload before=<segment>, after=None
    botpenguin.segment.changed   payload before/after = the changed fields only, and
                                 ``kinds`` (definition, size, bookkeeping);
                                 a rename is a change with ``renamed: true``

The resource is ``botpenguin.segment.<id>`` (named after the segment, with the labels
``botpenguin.renamed`` and ``botpenguin.changed-fields`` on changes, so a trigger can match
renames without reading payloads); the account is the related resource
``botpenguin.account.<slug>`` with role ``account``. Every segment event also has the label
``botpenguin.notifies``: "false" on a change that is only bookkeeping or size drift below the
threshold (recorded, not news), so a notification trigger can skip it while an export
trigger still sees every change.

Every payload carries ``change``: the id of the whole change (``change_id``), which the
change message names too ("Change id: ..."), so an event and a message can be matched; and
``credentials``: a reference to the saved credentials block the watch read
(``{"$ref": {"block_document_slug": "botpenguin-credentials/<name>"}}``, never the token;
None for ``BOTPENGUIN_*`` settings), so a run the event triggers reads the same account.

Event ids are derived from the account, the previous snapshot and the diff, so a watch run
that fails after emitting and is run again re-sends the *same* events, which the Prefect
server stores once. ``emit_change_events`` waits until the API returns every event it sent, so none
is lost when a short-lived process (or its ephemeral server) exits right after the flow; it
looks them up by id within their own occurred times, so clocks that disagree cannot hide them.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from prefect import get_run_logger

from ._compat import event_too_large_errors, read_event_ids
from ._dispatch import dual_task
from .core.accounts import account_slug
from .core.change_kinds import ChangeKindRules, ClassifiedDiff, classify_diff
from .core.diff import SegmentDiff, canonical_json
from .core.errors import EventDeliveryError
from .core.thresholds import SizeThreshold
from .credentials import BotPenguinCredentials, credentials_reference

if TYPE_CHECKING:
    from prefect.events import Event

EVENT_CREATED = "botpenguin.segment.created"
EVENT_REMOVED = "botpenguin.segment.removed"
EVENT_CHANGED = "botpenguin.segment.changed"
EVENT_ID_NAMESPACE = uuid.UUID("0f1d3a52-7c55-4a8e-9b6e-6f1a2b8c0d11")
CONFIRM_TIMEOUT = 30.0
"""Seconds to wait for the API to return emitted events (its persister flushes every ~5 s)."""
CONFIRM_POLL_INTERVAL = 0.5
"""The longest pause between two reads; the first comes after ``CONFIRM_FIRST_POLL``."""
CONFIRM_FIRST_POLL = 0.05
"""Then doubling: a server that persists at once answers a run in tenths of a second, and
one that flushes every few seconds is read twice a second, not hammered."""
READ_EVENTS_PAGE = 50  # the most POST /events/filter returns per page
_ANY_SIZE = SizeThreshold.model_construct(relative=0.0, absolute=1)
"""Without the watch's decision, any size change is news (as before change kinds)."""


def account_resource(account: str) -> dict[str, str]:
    """The account as a related resource of every change event."""
    return {
        "prefect.resource.id": f"botpenguin.account.{account_slug(account)}",
        "prefect.resource.role": "account",
        "prefect.resource.name": account,
    }


# -- events ---------------------------------------------------------------------------------


def change_id(
    diff: SegmentDiff, account: str, *, previous_fetched_at: datetime | None = None
) -> str:
    """One id for a change (this diff from this snapshot); its events and message carry it.

    Repeatable when anchored to a snapshot, so a re-run after a failure finds the same id.
    """
    digest = hashlib.sha256(canonical_json(diff.to_dict()).encode()).hexdigest()
    anchor = previous_fetched_at.isoformat() if previous_fetched_at else uuid.uuid4().hex
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{account_slug(account)}|{anchor}|{digest}"))


def change_event_specs(
    diff: SegmentDiff,
    account: str,
    *,
    previous_fetched_at: datetime | None = None,
    fetched_at: datetime | None = None,
    credentials: BotPenguinCredentials | None = None,
    classified: ClassifiedDiff | None = None,
    announced: bool = True,
) -> list[dict[str, Any]]:
    """Keyword arguments for ``emit_event``, one set per change.

    ``classified`` (the watch's ``decide``) gives each change its kinds and whether it is
    news; without it the built-in kinds apply and a size change counts as news.
    ``announced=False`` (a run with nothing worth a message) leaves ``change`` null.

    Ids are derived from the account, ``previous_fetched_at`` and the diff when the diff is
    anchored to a snapshot, so a re-run re-sends the same events; without an anchor they are
    random, so the same change observed twice is never merged into one event. The payload's
    ``credentials`` is the reference to ``credentials`` (``credentials_reference``).
    """
    occurred = fetched_at or datetime.now(UTC)
    digest = hashlib.sha256(canonical_json(diff.to_dict()).encode()).hexdigest()
    anchor = previous_fetched_at.isoformat() if previous_fetched_at else uuid.uuid4().hex
    seed = f"{account_slug(account)}|{anchor}|{digest}"
    change_ref = str(uuid.uuid5(EVENT_ID_NAMESPACE, seed))  # = change_id(...)
    related = [account_resource(account)]
    reference = credentials_reference(credentials)
    kinds = {
        change.change.id: change
        for change in (classified or classify_diff(diff, ChangeKindRules(), _ANY_SIZE)).changes
    }

    def spec(
        name: str, segment_id: str, label: str | None, payload: dict[str, Any]
    ) -> dict[str, Any]:
        resource = {
            "prefect.resource.id": f"botpenguin.segment.{segment_id}",
            "prefect.resource.name": label or segment_id,
            "botpenguin.notifies": "true",
        }
        if name == EVENT_CHANGED:
            resource["botpenguin.renamed"] = str(payload["renamed"]).lower()
            resource["botpenguin.changed-fields"] = ",".join(payload["fields"])
            resource["botpenguin.kinds"] = ",".join(payload["kinds"])
            resource["botpenguin.notifies"] = str(kinds[segment_id].notifies).lower()
        return {
            "event": name,
            "resource": resource,
            "related": related,
            "occurred": occurred,
            "payload": {
                "account": account,
                "credentials": reference,
                "change": change_ref if announced else None,
                **payload,
            },
            "id": uuid.uuid5(EVENT_ID_NAMESPACE, f"{seed}|{name}|{segment_id}"),
        }

    specs = [
        spec(EVENT_CREATED, s.id, s.name, {"before": None, "after": s.to_api_dict()})
        for s in diff.created
    ]
    specs += [
        spec(EVENT_REMOVED, s.id, s.name, {"before": s.to_api_dict(), "after": None})
        for s in diff.removed
    ]
    for change in diff.changed:
        payload = {**change.to_dict(), "kinds": [k.value for k in kinds[change.id].kinds]}
        del payload["id"], payload["name"]
        specs.append(spec(EVENT_CHANGED, change.id, change.name, payload))
    return specs


def _without_values(spec: dict[str, Any]) -> dict[str, Any]:
    """A spec whose payload lost its before/after values, for events over the size limit."""
    payload = {k: v for k, v in spec["payload"].items() if k not in ("before", "after")}
    return {**spec, "payload": {**payload, "truncated": True}}


def emit_all(
    specs: list[dict[str, Any]],
    what: str,
    hint: str,
    emit: Callable[[dict[str, Any]], Event | None] | None = None,
) -> list[Event]:
    """Emit every spec (with ``emit``, default ``emit_event``); none where events are off.

    What the change, membership and history emitters share: a warning counting ``what`` was
    not emitted when Prefect events are disabled, and one ``EventDeliveryError`` line ending
    in ``hint`` when Prefect cannot emit one, so the caller keeps its snapshot.
    """
    from prefect.events import emit_event
    from prefect.events.worker import should_emit_events

    if not should_emit_events():
        get_run_logger().warning(
            "Prefect events are disabled here; %d %s not emitted", len(specs), what
        )
        return []
    emitted: list[Event] = []
    for spec in specs:
        event = (emit or (lambda spec: emit_event(**spec)))(spec)
        if event is None:
            raise EventDeliveryError(
                f"Prefect could not emit {spec['event']} for "
                f"{spec['resource']['prefect.resource.id']}; {hint}."
            )
        emitted.append(event)
    return emitted


async def confirm_events_delivered(
    events: Sequence[Event],
    *,
    timeout: float = CONFIRM_TIMEOUT,
    poll_interval: float = CONFIRM_POLL_INTERVAL,
) -> None:
    """Wait until the Prefect API returns every event in ``events`` (``POST /events/filter``).

    Events are looked up by id. The API also needs a time window (its default is the last
    day by the server's clock), so the window is built from the events' own ``occurred``
    times as emitted, never from this machine's clock or a snapshot's: a snapshot taken on
    a machine whose clock runs ahead cannot hide the events. Reads again after 0.05 s, then
    doubles the pause up to ``poll_interval``. Raises ``EventDeliveryError`` when some are
    still missing after ``timeout`` seconds.
    """
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventIDFilter, EventOccurredFilter

    pending = {event.id for event in events}
    occurred = [event.occurred for event in events]
    margin = timedelta(minutes=1)
    window = EventOccurredFilter(since=min(occurred) - margin, until=max(occurred) + margin)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pause = min(CONFIRM_FIRST_POLL, poll_interval)
    async with get_client() as client:
        while True:
            ids = sorted(pending)
            for start in range(0, len(ids), READ_EVENTS_PAGE):
                chunk = ids[start : start + READ_EVENTS_PAGE]
                found = await read_event_ids(
                    client,
                    EventFilter(occurred=window, id=EventIDFilter(id=chunk)),
                    READ_EVENTS_PAGE,
                )
                pending.difference_update(found)
            if not pending:
                return
            if loop.time() >= deadline:
                raise EventDeliveryError(
                    f"{len(pending)} of {len(events)} change event(s) did not reach the Prefect "
                    f"API within {timeout:g} s; check the server's event persister and websocket "
                    "access (a watch run keeps its old snapshot and re-sends them next time)."
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, poll_interval)


async def _emit_change_events(
    diff: SegmentDiff,
    account: str,
    previous_fetched_at: datetime | None = None,
    fetched_at: datetime | None = None,
    confirm_timeout: float | None = CONFIRM_TIMEOUT,
    credentials: BotPenguinCredentials | None = None,
    classified: ClassifiedDiff | None = None,
    announced: bool = True,
) -> list[str]:
    """Emit one Prefect event per created, removed or changed segment, and confirm delivery.

    Args:
        diff: What changed, from ``prefect_botpenguin.diff_segments``.
        account: The account's label (the related resource ``botpenguin.account.<slug>``).
        previous_fetched_at: When the compared snapshot was taken. Given, it makes the event
            ids repeatable, so re-running after a failure re-sends the same events (stored
            once) instead of duplicates; omitted, every call emits new ids.
        fetched_at: When the new segments were fetched; the events' ``occurred`` time.
        confirm_timeout: Seconds to wait for the API to return every event; None skips it.
        credentials: The block the segments were fetched with (None: ``BOTPENGUIN_*``
            settings). Each payload's ``credentials`` refers to it by name (never its
            token), so an export the event triggers reads the same account.
        classified: The watch's classification of ``diff`` (kinds, and which changes are
            news); None classifies with the built-in kinds.
        announced: False when the run sends no message for ``diff`` (only bookkeeping or
            size drift): the events' ``change`` is then null.

    Returns:
        The ids of the emitted events.

    Example:
        Emit what changed since the last snapshot, then record the new one:
        ```python
        from prefect import flow
        from prefect_botpenguin import (
            diff_segments, emit_change_events, fetch_segments, load_segments_snapshot,
            save_segments_snapshot,
        )

        @flow
        def report_changes() -> list[str]:
            previous = load_segments_snapshot("larkspur", state="snapshots")
            current = fetch_segments()  # BOTPENGUIN_* settings; events carry credentials=None
            event_ids = []
            if previous is not None:
                diff = diff_segments(previous.segments, current)
                event_ids = emit_change_events(
                    diff, "larkspur", previous_fetched_at=previous.fetched_at
                )
            save_segments_snapshot(current, "larkspur", state="snapshots")
            return event_ids

        if __name__ == "__main__":
            print(report_changes())
        ```
    """
    from prefect.events import emit_event

    logger = get_run_logger()
    too_large = event_too_large_errors()
    if not too_large:
        logger.info("This Prefect checks no event size; change events are sent whole")
    specs = change_event_specs(
        diff,
        account,
        previous_fetched_at=previous_fetched_at,
        fetched_at=fetched_at,
        credentials=credentials,
        classified=classified,
        announced=announced,
    )
    if not specs:
        return []

    def emit(spec: dict[str, Any]) -> Event | None:
        try:
            return emit_event(**spec)
        except too_large:
            logger.warning("Event for %s is too large; sending it without values", spec["resource"])
            return emit_event(**_without_values(spec))

    emitted = emit_all(
        specs,
        "change(s)",
        "see the Prefect log above for the cause (a watch run keeps its old snapshot and "
        "re-sends it next time)",
        emit,
    )
    if not emitted:
        return []
    if confirm_timeout is not None:
        await confirm_events_delivered(emitted, timeout=confirm_timeout)
    logger.info("Emitted %d change event(s) for account %r", len(emitted), account)
    return [str(event.id) for event in emitted]


aemit_change_events, emit_change_events = dual_task(
    _emit_change_events, name="emit-botpenguin-change-events"
)
