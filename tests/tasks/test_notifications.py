"""Notifications reach a real loopback receiver, through Apprise URLs and saved blocks."""

from __future__ import annotations

import socket
import uuid

import pytest
from prefect.blocks.notifications import (
    CustomWebhookNotificationBlock,
    MattermostWebhook,
    SlackWebhook,
)
from prefect.blocks.system import Secret

from prefect_botpenguin.core.errors import NotificationError
from prefect_botpenguin.notifications import (
    check_notification_targets,
    send_notification,
    target_label,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("prefect_harness"),
    # Tasks called outside a flow log locally only; Prefect warns about that once per call.
    pytest.mark.filterwarnings("ignore:Logger .prefect.task_runs. attempted to send logs"),
]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def save_custom_webhook(url: str) -> str:
    name = unique("ops-webhook")
    block = CustomWebhookNotificationBlock(
        name="BotPenguin alerts",
        url=url,
        json_data={"subject": "{{subject}}", "text": "{{body}}", "token": "{{token}}"},
        secrets={"token": "s3cr3t-webhook-token"},
    )
    await block.save(name)
    return name


@pytest.mark.parametrize(
    ("target", "label"),
    [
        ("json://127.0.0.1:8080/hooks/s3cr3t", "json://127.0.0.1"),
        ("mailto://user:p4ss@gmail.com", "mailto://gmail.com"),
        ("slack://T0AAA/B0BBB/s3cr3tXYZ", "slack://***"),
        ("tgram://123456:s3cr3tBotToken/987", "tgram://***"),
        ("ops-slack", "block 'ops-slack'"),
    ],
)
def test_target_labels_keep_scheme_and_host_but_never_tokens(target: str, label: str) -> None:
    assert target_label(target) == label
    assert "s3cr3t" not in label
    assert "p4ss" not in label


async def test_apprise_json_url_delivers_subject_and_body(receiver) -> None:
    url = receiver.url("/hooks/watch", scheme="json")
    sent = await send_notification("2 segments changed.\nSee Prefect.", [url], subject="Changes")

    assert sent == ["json://127.0.0.1"]
    (request,) = receiver.requests
    assert (request.method, request.path) == ("POST", "/hooks/watch")
    payload = request.json()
    assert payload["title"] == "Changes"
    assert payload["message"] == "2 segments changed.\nSee Prefect."


async def test_saved_custom_webhook_block_is_used_by_name_or_type_and_name(receiver) -> None:
    name = await save_custom_webhook(receiver.url("/custom"))

    sent = await send_notification("body text", [name, f"custom-webhook/{name}"], subject="Subj")

    assert sent == [f"block {name!r}", f"block 'custom-webhook/{name}'"]
    assert len(receiver.requests) == 2
    for request in receiver.requests:
        assert request.path == "/custom"
        assert request.json() == {
            "subject": "Subj",
            "text": "body text",
            "token": "s3cr3t-webhook-token",
        }


async def test_apprise_failure_raises_naming_the_target_without_its_secret(receiver) -> None:
    receiver.status = 500
    url = receiver.url("/hooks/s3cr3t-path-token", scheme="json")

    with pytest.raises(NotificationError, match=r"json://127\.0\.0\.1 failed") as raised:
        await send_notification("body", [url])

    assert "s3cr3t" not in str(raised.value)
    assert len(receiver.requests) == 1, "tried once: no duplicate messages"


async def test_custom_webhook_block_failure_raises_with_the_http_status(receiver) -> None:
    receiver.status = 500
    name = await save_custom_webhook(receiver.url("/custom?key=s3cr3t-query"))

    with pytest.raises(NotificationError, match=r"HTTP 500") as raised:
        await send_notification("body", [name])

    assert name in str(raised.value)
    assert "s3cr3t" not in str(raised.value)


async def test_an_apprise_based_block_that_fails_raises_instead_of_only_logging(receiver) -> None:
    # Prefect's Apprise blocks only log a failure unless raise_on_failure() is active.
    receiver.status = 500
    name = unique("mattermost")
    await MattermostWebhook(
        hostname="127.0.0.1", port=receiver.port, token="s3cr3t-mm-token", secure=False
    ).save(name)

    with pytest.raises(NotificationError, match=f"block '{name}' failed") as raised:
        await send_notification("body", [name])

    assert len(receiver.requests) == 1
    assert receiver.requests[0].path == "/hooks/s3cr3t-mm-token"
    assert "s3cr3t" not in str(raised.value)


async def test_a_closed_port_fails_visibly() -> None:
    url = f"json://127.0.0.1:{closed_port()}/hook"
    with pytest.raises(NotificationError, match=r"json://127\.0\.0\.1 failed"):
        await send_notification("body", [url])


async def test_every_target_is_tried_before_the_failures_are_raised(receiver) -> None:
    dead = f"json://127.0.0.1:{closed_port()}/hook"
    with pytest.raises(NotificationError, match=r"1 of 2 notifications failed|json://127"):
        await send_notification("body", [dead, receiver.url(scheme="json")])
    assert len(receiver.requests) == 1, "the healthy target still got the message"


async def test_two_targets_on_one_host_are_told_apart_by_position(receiver) -> None:
    dead = f"json://127.0.0.1:{closed_port()}/s3cr3t-hook"
    with pytest.raises(NotificationError) as raised:
        await send_notification("body", [receiver.url(scheme="json"), dead])

    assert "json://127.0.0.1 (target 2) failed" in str(raised.value)
    assert "(target 1)" not in str(raised.value), "the healthy one is not blamed"
    assert "s3cr3t" not in str(raised.value)


async def test_targets_with_distinct_labels_keep_their_plain_labels(receiver) -> None:
    targets = [
        receiver.url(scheme="json"),
        receiver.url(scheme="json").replace("127.0.0.1", "localhost"),
    ]
    assert await send_notification("body", targets) == ["json://127.0.0.1", "json://localhost"]


async def test_unknown_or_unusable_targets_are_rejected_before_anything_is_sent() -> None:
    with pytest.raises(NotificationError, match="No notification block named 'no-such-block'"):
        await check_notification_targets(["no-such-block"])
    with pytest.raises(NotificationError, match="not a URL Apprise understands"):
        await check_notification_targets(["nosuchscheme://host/path"])

    secret_name = unique("not-a-notifier")
    await Secret(value="x").save(secret_name)
    with pytest.raises(NotificationError, match=f"No notification block named '{secret_name}'"):
        await check_notification_targets([secret_name])
    with pytest.raises(NotificationError, match="cannot send notifications"):
        await check_notification_targets([f"secret/{secret_name}"])


async def test_a_name_shared_by_two_notification_block_types_must_be_qualified(receiver) -> None:
    name = await save_custom_webhook(receiver.url("/custom"))
    await SlackWebhook(url="https://hooks.slack.com/services/T000/B000/XXXX").save(name)

    with pytest.raises(NotificationError, match="Several notification blocks are named"):
        await check_notification_targets([name])
    labels = await check_notification_targets([f"custom-webhook/{name}"])
    assert labels == [f"block 'custom-webhook/{name}'"]
