"""Sending a message through saved Prefect notification blocks or Apprise URLs.

A target is either an Apprise URL (anything containing ``://``: ``slack://...``,
``mailto://...``, ``json://host/path``) or the name of a saved notification block
(``SlackWebhook``, ``MicrosoftTeamsWebhook``, ``CustomWebhookNotificationBlock``, ...), given as
``name`` or, when several block types share the name, as ``<block-type-slug>/<name>``.

Failures are never silent: every target is tried, then one ``NotificationError`` names those
that failed. Targets are named by a redacted label (``json://127.0.0.1``, ``slack://***``,
``block 'ops-slack'``) because Apprise URLs often carry tokens in the host or path; with several
targets each label also gives the target's position (``json://127.0.0.1 (target 2)``), since
two URLs on one host differ only in their secret paths.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prefect import get_run_logger

from ._dispatch import dual_task
from .core.errors import NotificationError
from .core.locations import is_url as is_apprise_url
from .core.locations import target_label

if TYPE_CHECKING:
    from prefect.blocks.abstract import NotificationBlock

APPRISE_WIKI = "https://github.com/caronc/apprise/wiki"


@dataclass(frozen=True)
class _Target:
    label: str
    apprise_url: str | None = None
    block: NotificationBlock | None = None


async def _find_block_name(name: str) -> str:
    """``<block-type-slug>/<name>`` of the one notification block called ``name``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        BlockDocumentFilter,
        BlockDocumentFilterName,
        BlockSchemaFilter,
        BlockSchemaFilterCapabilities,
    )
    from prefect.client.schemas.objects import BlockDocument

    async with get_client() as client:
        response = await client.request(
            "POST",
            "/block_documents/filter",
            json={
                "block_documents": BlockDocumentFilter(
                    name=BlockDocumentFilterName(any_=[name])
                ).model_dump(mode="json"),
                "block_schemas": BlockSchemaFilter(
                    block_capabilities=BlockSchemaFilterCapabilities(all_=["notify"])
                ).model_dump(mode="json"),
                "include_secrets": False,
                "limit": 10,
            },
        )
    documents = [BlockDocument.model_validate(item) for item in response.json()]
    slugs = sorted({doc.block_type.slug for doc in documents if doc.block_type is not None})
    if not slugs:
        raise NotificationError(
            f"No notification block named {name!r} on this Prefect server; create one in the "
            "UI (Blocks), or pass an Apprise URL such as slack://... instead."
        )
    if len(slugs) > 1:
        raise NotificationError(
            f"Several notification blocks are named {name!r} ({', '.join(slugs)}); "
            f"give one as '<type>/<name>', e.g. '{slugs[0]}/{name}'."
        )
    return f"{slugs[0]}/{name}"


async def load_notification_block(name: str) -> NotificationBlock:
    """Load a saved notification block by ``name`` or ``<block-type-slug>/<name>``."""
    from prefect.blocks.abstract import NotificationBlock
    from prefect.blocks.core import Block

    full_name = name if "/" in name else await _find_block_name(name)
    try:
        block = await Block.aload(full_name)
    except (ValueError, KeyError):
        raise NotificationError(
            f"No block {full_name!r} on this Prefect server; check the name in the UI (Blocks)."
        ) from None
    if not isinstance(block, NotificationBlock):
        raise NotificationError(
            f"Block {full_name!r} is a {type(block).__name__}, which cannot send notifications; "
            "name a notification block (Slack, Teams, Custom Webhook, ...)."
        )
    return block


def _positions(targets: list[str]) -> list[int | None]:
    """The 1-based position of each target whose safe label another target shares, else None."""
    labels = [target_label(target) for target in targets]
    return [
        number if labels.count(label) > 1 else None for number, label in enumerate(labels, start=1)
    ]


async def _resolve(target: str, position: int | None = None) -> _Target:
    label = target_label(target, position)
    if not is_apprise_url(target):
        return _Target(label, block=await load_notification_block(target))
    import apprise

    if not apprise.Apprise().add(target.strip()):
        raise NotificationError(
            f"Notification target {label} is not a URL Apprise understands; check its scheme "
            f"and format ({APPRISE_WIKI})."
        )
    return _Target(label, apprise_url=target.strip())


def _failure_detail(exc: BaseException) -> str:
    """What went wrong, without the exception's text (it may quote a secret URL)."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.TransportError):
        return "could not connect"
    return type(exc).__name__


async def _send(target: _Target, body: str, subject: str | None) -> None:
    if target.apprise_url is not None:
        import apprise

        client = apprise.Apprise()
        client.add(target.apprise_url)
        result = await client.async_notify(body=body, title=subject or "")
        if not result:  # apprise answers False (or a falsy AppriseResult) instead of raising
            status = getattr(getattr(result, "status", None), "name", "FAILURE").lower()
            raise NotificationError(
                f"Notification to {target.label} failed (Apprise: {status}); check that the "
                "service is reachable and the URL is right."
            )
        return
    block = target.block
    assert block is not None
    try:
        with block.raise_on_failure():  # Apprise-based blocks only log failures otherwise
            anotify = getattr(block, "anotify", None)
            sent: Any = anotify(body, subject) if anotify else block.notify(body, subject)
            if inspect.isawaitable(sent):
                await sent
    except Exception as exc:
        raise NotificationError(
            f"Notification through {target.label} failed ({_failure_detail(exc)}); check the "
            "block's settings and that the service is reachable."
        ) from None


async def deliver_message(
    target: str, body: str, subject: str | None = None, position: int | None = None
) -> str:
    """Send one message to one target; its safe label, or a ``NotificationError`` naming it."""
    resolved = await _resolve(target, position)
    await _send(resolved, body, subject)
    return resolved.label


async def _check_notification_targets(targets: list[str]) -> list[str]:
    """Fail early when a target is unknown or malformed, before anything is sent or saved.

    Every target is checked, and one ``NotificationError`` lists all the problems.

    Args:
        targets: Apprise URLs and/or names of saved notification blocks.

    Returns:
        A safe label per target, e.g. ``json://127.0.0.1`` or ``block 'ops-slack'``, with
        ``(target N)`` appended when another target has the same label.

    Example:
        Check targets at the start of a flow:
        ```python
        from prefect import flow
        from prefect_botpenguin import check_notification_targets

        @flow
        def preflight() -> list[str]:
            return check_notification_targets(["ops-webhook", "json://localhost/hook"])

        if __name__ == "__main__":
            print(preflight())
        ```
    """
    labels: list[str] = []
    problems: list[str] = []
    for target, position in zip(targets, _positions(targets), strict=True):
        try:
            labels.append((await _resolve(target, position)).label)
        except NotificationError as exc:
            problems.append(str(exc))
    if problems:
        raise NotificationError(" | ".join(problems))
    return labels


acheck_notification_targets, check_notification_targets = dual_task(
    _check_notification_targets, name="check-botpenguin-notification-targets"
)


async def _send_notification(
    body: str, targets: list[str], subject: str | None = None
) -> list[str]:
    """Send one message to every target; raise if any of them failed.

    All targets are tried even when one fails, then a single ``NotificationError`` names the
    failed ones (redacted). Nothing is retried here, so no target gets the message twice.

    Args:
        body: The message text.
        targets: Apprise URLs (``slack://...``, ``json://host/path``) and/or names of saved
            notification blocks (``name`` or ``<block-type-slug>/<name>``).
        subject: A title, for services that show one.

    Returns:
        The safe labels of the targets that received the message.

    Example:
        Send a message through a saved notification block (Slack, Teams, a webhook...):
        ```python
        from prefect import flow
        from prefect_botpenguin import send_notification

        @flow
        def say_hello() -> list[str]:
            return send_notification("Segments refreshed.", ["ops-webhook"], subject="Hi")

        if __name__ == "__main__":
            print(say_hello())
        ```
    """
    logger = get_run_logger()
    sent: list[str] = []
    failures: list[str] = []
    for target, position in zip(targets, _positions(targets), strict=True):
        try:
            label = await deliver_message(target, body, subject, position)
        except NotificationError as exc:
            logger.error("%s", exc)
            failures.append(str(exc))
        else:
            logger.info("Notification sent to %s", label)
            sent.append(label)
    if len(failures) == 1:
        raise NotificationError(failures[0])
    if failures:
        raise NotificationError(
            f"{len(failures)} of {len(targets)} notifications failed: " + " | ".join(failures)
        )
    return sent


asend_notification, send_notification = dual_task(
    _send_notification, name="send-botpenguin-notification"
)
