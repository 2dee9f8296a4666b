"""The outbox: change messages are saved with the snapshot first, then sent, then ticked off.

A watch run adds its change message to the account's state (``Snapshot.pending``) in the same
atomic write that advances the snapshot, and only then sends it. Each target that accepts it
is recorded; a message leaves the outbox when every target has it. A target that failed gets
the message on the next run (and only that target: the others are never sent it twice), until
it accepts or the user drops the backlog (``--drop-pending`` / ``drop_pending=True``).

So a change message is delivered at least once to every target, and exactly once unless a
target accepts it and the run dies before recording that (then the next run sends it again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from prefect import get_run_logger, task

from ._dispatch import PACK_TASK_OPTIONS
from .change_summary import ChangeMessage
from .core.errors import NotificationError
from .core.watch import owed_message
from .core.watch_state import PendingMessage, target_key
from .notifications import deliver_message


def pending_message(
    change: str, message: ChangeMessage, targets: list[str], *, created_at: datetime | None = None
) -> PendingMessage:
    """The outbox entry for one change message, owed to every target in ``targets``."""
    return owed_message(
        change, message.subject, message.body, targets, created_at or datetime.now(UTC)
    )


@dataclass
class Delivery:
    """What one pass over the outbox did."""

    pending: list[PendingMessage] = field(default_factory=list)
    """Messages some target still misses, to save back into the state."""
    sent: list[str] = field(default_factory=list)
    """Labels of targets that accepted a message in this pass (each once)."""
    failures: list[str] = field(default_factory=list)
    """One line per refused delivery, naming the target (redacted)."""
    changed: bool = False
    """Whether the outbox differs from what was passed in (so the state must be saved)."""


def _late_note(message: PendingMessage) -> str:
    due = message.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"Delivered late: this message was due at {due}, when this target did not accept it."


@task(name="deliver-botpenguin-messages", **PACK_TASK_OPTIONS)
async def deliver_pending(
    messages: list[PendingMessage], targets: list[str], current: str | None = None
) -> Delivery:
    """Send each message, oldest first, to the targets that have not accepted it yet.

    Args:
        messages: The outbox (this run's message last).
        targets: The notification targets of this run. A message owed to a target this run
            does not have stays in the outbox (its URL is not kept, so it cannot be sent).
        current: This run's change id; older messages say they are late.

    Returns:
        What was sent, what failed, and the messages still owed.
    """
    logger = get_run_logger()
    configured = {target_key(target): target for target in targets}
    delivery = Delivery()
    waiting = 0
    for message in messages:
        delivered = list(message.delivered)
        missing = message.missing()
        waiting += sum(1 for key in missing if key not in configured)  # kept for a run with it
        for key in (key for key in configured if key in missing):  # in the run's order
            late = message.id != current
            body = f"{_late_note(message)}\n\n{message.body}" if late else message.body
            try:
                label = await deliver_message(configured[key], body, message.subject)
            except NotificationError as exc:
                logger.error("%s (change message %s stays in the outbox)", exc, message.id)
                delivery.failures.append(str(exc))
                continue
            logger.info("Change message %s sent to %s", message.id, label)
            delivered.append(key)
            delivery.changed = True
            if label not in delivery.sent:
                delivery.sent.append(label)
        message = message.model_copy(update={"delivered": tuple(delivered)})
        if not message.done:
            delivery.pending.append(message)
    if waiting:
        logger.warning(
            "%d delivery(ies) of undelivered change messages wait for targets this run does not "
            "notify; a run with those targets sends them, --drop-pending drops them",
            waiting,
        )
    return delivery
