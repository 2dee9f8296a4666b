"""The automations a team wants around the pack, as code: created or updated by name.

Prefect's own objects (``Automation``, ``EventTrigger``, ``SendNotification``,
``ChangeFlowRunState``), so they work with every notification block and on Prefect Cloud:

- ``botpenguin: segment changes -> notify``: one message per account and burst of
  ``botpenguin.segment.*`` events that are news (label ``botpenguin.notifies`` "true": not
  bookkeeping or size drift; see deployments/EVENTS.md), through a notification block;
- ``botpenguin: audience swings -> notify`` (with a swing of N%): one message per
  ``botpenguin.segment.resized`` event whose audience grew or shrank by N% or more, matched
  on its ``botpenguin.swing`` label (``core.thresholds.swing_patterns``);
- ``botpenguin: failed sync -> notify``: a ``botpenguin-segments-sync`` run that fails;
- ``botpenguin: silent watch -> Crashed``: a watch or sync run that stops sending flow-run
  heartbeats (its worker or process was killed) is marked Crashed, so the next one can run.

Flow runs are matched by deployment and flow *names*, never ids, so re-creating the deployments
(``prefect deploy``, ``botpenguin serve``) does not break these automations; and they are not
owned by a deployment, so ``prefect deploy`` does not delete them. Applying again compares
each automation with what the server has and changes only what differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from prefect.automations import Automation
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState, SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.exceptions import ObjectNotFound

from .changes import EVENT_CHANGED, EVENT_CREATED, EVENT_REMOVED
from .core.accounts import account_slug
from .core.errors import ConfigurationError, NotificationError
from .core.thresholds import swing_patterns
from .history_events import EVENT_RESIZED

PREFIX = "botpenguin: "
SEGMENT_CHANGES = f"{PREFIX}segment changes -> notify"
AUDIENCE_SWINGS = f"{PREFIX}audience swings -> notify"
FAILED_SYNC = f"{PREFIX}failed sync -> notify"
SILENT_WATCH = f"{PREFIX}silent watch -> Crashed"
SYNC_FLOW = "botpenguin-segments-sync"
WATCHED_FLOWS = ["botpenguin-segments-watch", "botpenguin-segments-sync"]
"""Matched by flow name: Prefect's heartbeat events name the flow, not the deployment."""
BURST = timedelta(seconds=60)
"""A watch run emits all its events at once: one message per account within this window."""
SILENCE = timedelta(minutes=10)
"""No heartbeat for this long means the run's process is gone: 20 missed beats at the 30 s
the deployments send (deployments/prefect.yaml), 3 at Prefect's default of 180 s."""

CHANGE_SUBJECT = "BotPenguin segments changed in {{ event.payload.account }}"
CHANGE_BODY = """\
The segments of BotPenguin account {{ event.payload.account }} changed.
First change: {{ event.event | replace('botpenguin.segment.', '') }} segment \
{{ event.resource.name }} ({{ event.resource.id | replace('botpenguin.segment.', '') }})\
{% if event.payload.fields %}, fields: {{ event.payload.fields | join(', ') }}{% endif %}\
{% if event.payload.before and event.payload.before.contactCount is defined %}, \
contacts before: {{ event.payload.before.contactCount }}{% endif %}\
{% if event.payload.after and event.payload.after.contactCount is defined %}, \
contacts after: {{ event.payload.after.contactCount }}{% endif %}.
Every change is in the watch run's change summary artifact and in the event feed \
(botpenguin.segment.* events of {{ event.resource_in_role.account.id }})."""
SWING_SUBJECT = (
    "BotPenguin audience swing in {{ event.payload.account }}: {{ event.resource.name }}"
)
SWING_BODY = """\
Segment {{ event.resource.name }} ({{ event.resource.id | replace('botpenguin.segment.', '') }}) \
of BotPenguin account {{ event.payload.account }} went from {{ event.payload.before }} to \
{{ event.payload.after }} contacts\
{% if event.payload.percent is not none %} ({{ event.payload.percent }}%){% endif %} since \
the previous watch run.
The watch run's change summary artifact shows the segment's size trend."""
FAILED_SUBJECT = "BotPenguin sync failed: {{ flow_run.name }}"
FAILED_BODY = """\
Flow run {{ flow_run.name }} of {{ flow.name }} ended {{ flow_run.state.name }}: \
{{ flow_run.state.message }}
{{ flow_run|ui_url }}"""

Outcome = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class Applied:
    """What ``apply_automations`` did (or, in a dry run, would do) to one automation."""

    name: str
    outcome: Outcome
    id: UUID | None
    changed: tuple[str, ...] = ()


def wanted_automations(
    notify_block_id: UUID | None = None,
    account: str | None = None,
    *,
    silence: timedelta = SILENCE,
    swing: int | None = None,
) -> list[Automation]:
    """The automations to apply: the crash detector always, the messages with a block.

    ``account`` limits the change (and swing) messages to one account (and names the
    automations after it, so each account can have its own); ``silence`` is how long a run
    may go without a heartbeat before it is marked Crashed; ``swing`` (a whole percent, with
    a block) adds a message for every audience that grows or shrinks by that much or more
    since the previous watch run. The watch emits a resize only past its own threshold
    (``BOTPENGUIN_RESIZE_*``, 10% and 10 contacts by default), so a smaller ``swing`` than
    that threshold does not see smaller moves.
    """
    automations = [_silent_watch(silence)]
    if notify_block_id is not None:
        automations.insert(0, _segment_changes(notify_block_id, account))
        automations.insert(1, _failed_sync(notify_block_id))
        if swing is not None:
            automations.insert(1, _audience_swings(notify_block_id, account, swing))
    return automations


def _segment_changes(block_id: UUID, account: str | None) -> Automation:
    slug = account_slug(account) if account else "*"
    name = SEGMENT_CHANGES if account is None else f"{PREFIX}segment changes in {account} -> notify"
    return _message_on(
        name,
        "Message through a notification block when an account's segments change "
        "(one message per account and watch run).",
        block_id,
        CHANGE_SUBJECT,
        CHANGE_BODY,
        # Bookkeeping and size drift below the threshold are events, not news.
        match={"prefect.resource.id": "botpenguin.segment.*", "botpenguin.notifies": "true"},
        match_related={
            "prefect.resource.role": "account",
            "prefect.resource.id": f"botpenguin.account.{slug}",
        },
        expect={EVENT_CREATED, EVENT_REMOVED, EVENT_CHANGED},
        for_each={"related:account:prefect.resource.id"},
        within=BURST,
    )


def _audience_swings(block_id: UUID, account: str | None, swing: int) -> Automation:
    slug = account_slug(account) if account else "*"
    name = AUDIENCE_SWINGS if account is None else f"{PREFIX}audience swings in {account} -> notify"
    return _message_on(
        name,
        f"Message through a notification block when an audience grows or shrinks "
        f"by {swing}% or more since the previous watch run (one message per segment).",
        block_id,
        SWING_SUBJECT,
        SWING_BODY,
        match={
            "prefect.resource.id": "botpenguin.segment.*",
            "botpenguin.swing": swing_patterns(swing),
        },
        match_related={
            "prefect.resource.role": "account",
            "prefect.resource.id": f"botpenguin.account.{slug}",
        },
        expect={EVENT_RESIZED},
    )


def _failed_sync(block_id: UUID) -> Automation:
    return _message_on(
        FAILED_SYNC,
        f"Message through a notification block when a {SYNC_FLOW} run fails.",
        block_id,
        FAILED_SUBJECT,
        FAILED_BODY,
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related={"prefect.resource.role": "flow", "prefect.resource.name": SYNC_FLOW},
        expect={"prefect.flow-run.Failed"},
    )


def _message_on(
    name: str,
    description: str,
    block_id: UUID,
    subject: str,
    body: str,
    within: timedelta = timedelta(0),
    **trigger: Any,
) -> Automation:
    """An automation that sends a message through the block each time its events come
    (reactive, one event is enough; ``within`` gathers a burst into one message)."""
    return Automation(
        name=name,
        description=description,
        trigger=EventTrigger(**trigger, posture=Posture.Reactive, threshold=1, within=within),
        actions=[SendNotification(block_document_id=block_id, subject=subject, body=body)],
    )


def _silent_watch(silence: timedelta) -> Automation:
    return crash_when_silent(
        SILENT_WATCH,
        WATCHED_FLOWS,
        silence,
        description="Mark a watch or sync run Crashed when its heartbeats stop for "
        f"{int(silence.total_seconds())} s (its process is gone), so the "
        "deployment's one-at-a-time limit lets the next run start.",
        after={"prefect.flow-run.heartbeat"},
    )


def crash_when_silent(
    name: str,
    flows: list[str],
    silence: timedelta,
    *,
    description: str,
    after: set[str],
) -> Automation:
    """Mark a run of ``flows`` Crashed when ``silence`` passes after one of the ``after``
    events with no heartbeat or state change: its process, or its machine, is gone.

    Flows are matched by name (Prefect's heartbeat events name the flow, not the deployment).
    The watch's and the shards' watchdogs are both built here, so they behave alike.
    """
    seconds = int(silence.total_seconds())
    return Automation(
        name=name,
        description=description,
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": flows},
            after=after,
            expect={"prefect.flow-run.*"},  # a heartbeat or any state change
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=silence,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"No heartbeat for {seconds} s: the process running this flow run "
                f"is gone (marked by the automation '{name}').",
            )
        ],
    )


def _comparable(automation: Automation) -> dict[str, Any]:
    """The fields that define an automation, without server-assigned ids."""
    data = automation.model_dump(exclude={"id", "owner_resource"})
    data["trigger"].pop("id", None)
    return data


async def notification_block_id(name: str) -> UUID:
    """The id of the saved notification block ``name`` (or ``<block-type-slug>/<name>``)."""
    from .notifications import _find_block_name

    missing = ConfigurationError(
        f"No notification block {name!r} on this Prefect server; create one in the UI "
        "(Blocks) or with Python, then pass its name (or <block-type-slug>/<name>) to --notify."
    )
    try:
        full_name = name if "/" in name else await _find_block_name(name)
    except NotificationError as exc:  # none, or several types share the name
        raise (missing if "No notification block" in str(exc) else exc) from None
    slug, _, block_name = full_name.partition("/")
    async with get_client() as client:
        try:
            document = await client.read_block_document_by_name(block_name, slug)
        except ObjectNotFound:
            raise missing from None
    return document.id


async def apply_automations(
    automations: list[Automation], *, dry_run: bool = False
) -> list[Applied]:
    """Create each automation missing on the server, update those that differ, by name."""
    results: list[Applied] = []
    async with get_client() as client:
        for wanted in automations:
            existing = await client.read_automations_by_name(wanted.name)
            if not existing:
                core = AutomationCore(**wanted.model_dump(exclude={"id", "owner_resource"}))
                new_id = None if dry_run else await client.create_automation(core)
                results.append(Applied(wanted.name, "created", new_id))
                continue
            current = Automation(**existing[0].model_dump())
            before, after = _comparable(current), _comparable(wanted)
            changed = tuple(key for key in after if before.get(key) != after[key])
            if not changed:
                results.append(Applied(wanted.name, "unchanged", current.id))
                continue
            if not dry_run:
                assert current.id is not None
                core = AutomationCore(**wanted.model_dump(exclude={"id", "owner_resource"}))
                await client.update_automation(current.id, core)  # every field, in place
            results.append(Applied(wanted.name, "updated", current.id, changed))
    return results
