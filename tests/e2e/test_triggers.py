"""Issue 11's acceptance, on a fresh Prefect server with a worker: the pack's own triggers.

From the README's setup commands (server, block, work pool, deploy, worker) and nothing else:
``botpenguin automations apply`` with a notification block pointed at a local HTTP receiver,
then a watch that sees the sandbox's segments change. The ``segments-export`` deployment must
run exactly once by itself, for that account, and the receiver get exactly one message.
Then a second ``prefect deploy`` must leave every trigger and automation as it was.

The stack (``fresh_stack``) is this module's own: the triggers fire on every segment
event of the server, so counting runs and messages needs a server no other test writes to.
"""

from __future__ import annotations

import csv
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from prefect_botpenguin.automations import BURST, FAILED_SYNC, SILENT_WATCH
from prefect_botpenguin.core.accounts import account_slug
from prefect_botpenguin.deployments.serve import load_deployment_specs
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXPORT = "botpenguin-segments-export/segments-export"
MEMBERS_EXPORT = "botpenguin-segments-members-export/segments-members-export"
WATCH = "botpenguin-segments-watch/segments-watch"
ACCOUNT = "E2E Trigger Shop"
TOKEN = "e2e-trigger-account-token"
HOOK = "e2e-hook"
OUTCOMES = ("created: ", "updated: ", "unchanged: ")
(EXPORT_TRIGGER,) = next(s for s in load_deployment_specs() if s["name"] == "segments-export")[
    "triggers"
]
WINDOW = max(float(EXPORT_TRIGGER["within"]), BURST.total_seconds())
"""How long after a burst of events a wrong second run or message could still come: the export
trigger's ``within`` (deployments/prefect.yaml) and the notification automation's window."""
SETTLE_MARGIN = 5.0


def save_blocks(stack, token: str, hook: str, hook_url: str) -> None:
    """The deployments' ``default`` credentials for ``token``'s sandbox account, and a Custom
    Webhook notification block ``hook`` pointed at ``hook_url``, as a team would point one at
    its chat (one process: each start of Python and Prefect costs seconds)."""
    script = (
        "import sys\n"
        "from prefect.blocks.notifications import CustomWebhookNotificationBlock\n"
        "from prefect_botpenguin import BotPenguinCredentials\n"
        "token, base_url, hook, url = sys.argv[1:]\n"
        "credentials = BotPenguinCredentials(api_token=token, base_url=base_url)\n"
        "credentials.save('default', overwrite=True)\n"
        "CustomWebhookNotificationBlock(\n"
        "    name=hook, url=url, json_data={'subject': '{{subject}}', 'body': '{{body}}'}\n"
        ").save(hook)\n"
    )
    argv = ["uv", "run", "python", "-c", script, token, stack.sandbox.url, hook, hook_url]
    stack.run(argv, f"save the default credentials and the webhook block {hook}")


def runs_of(stack, deployment_id: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = stack.api(
        "POST",
        "/flow_runs/filter",
        json={"deployments": {"id": {"any_": [deployment_id]}}, "sort": "EXPECTED_START_TIME_ASC"},
    )
    return runs


def wait_for(what: str, found: Any, timeout: float = 120.0) -> Any:
    """Poll ``found()`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := found():
            return result
        time.sleep(1)
    pytest.fail(f"no {what} within {timeout:.0f} s")


def test_a_watch_that_sees_a_change_runs_the_export_once_and_sends_one_message(
    fresh_stack, receiver, tmp_path
):
    stack = fresh_stack
    slug = account_slug(ACCOUNT)
    exported = ROOT / "out" / f"botpenguin-segments-{slug}.csv"  # the worker runs in ROOT
    exported.unlink(missing_ok=True)
    # The deployments' "default" block reads this test's own sandbox account; the watch reads
    # it, and the export the trigger starts reads the block the watch's events name.
    stack.sandbox.set_segments(TOKEN, SAMPLE_SEGMENTS[:3])
    save_blocks(stack, TOKEN, HOOK, receiver.url())
    applied = stack.run(
        ["uv", "run", "botpenguin", "automations", "apply", "--notify", HOOK, "--account", ACCOUNT],
        "botpenguin automations apply",
    )
    outcomes = [line for line in applied.splitlines() if line.startswith(OUTCOMES)]
    assert [line.split(" [")[0] for line in outcomes] == [
        f"created: botpenguin: segment changes in {ACCOUNT} -> notify",
        f"created: {FAILED_SYNC}",
        f"created: {SILENT_WATCH}",
    ], applied

    watch = {"account": ACCOUNT, "state": str(tmp_path / "snapshots")}
    stack.run_deployment(WATCH, watch)  # the baseline: no events
    renamed = {**SAMPLE_SEGMENTS[0], "segmentName": "VIP tea club (gold)"}
    changed = [renamed, SAMPLE_SEGMENTS[1], SAMPLE_SEGMENTS[3]]  # one changed, removed, created
    stack.sandbox.set_segments(TOKEN, changed)
    stack.run_deployment(WATCH, watch)

    events = [
        event
        for event in stack.events("botpenguin.segment.")
        if any(r["prefect.resource.id"] == f"botpenguin.account.{slug}" for r in event["related"])
    ]
    assert sorted(event["event"] for event in events) == [
        "botpenguin.segment.changed",
        "botpenguin.segment.created",
        "botpenguin.segment.removed",
    ], "one burst of three events, the trigger's input"
    burst = max(datetime.fromisoformat(event["occurred"]) for event in events)

    export = stack.deployment(EXPORT)
    (first,) = wait_for("export run started by the trigger", lambda: runs_of(stack, export["id"]))
    run = stack.wait_for_run(first["id"])
    assert run["state_type"] == "COMPLETED", stack.failure_report(run)
    wait_for("notification", lambda: receiver.requests)

    # Any second run or message from this burst would come within the trigger's window.
    settle = burst.timestamp() + WINDOW + SETTLE_MARGIN - time.time()
    time.sleep(max(settle, SETTLE_MARGIN))
    runs = runs_of(stack, export["id"])
    assert [r["id"] for r in runs] == [run["id"]], [r["parameters"] for r in runs]
    assert len(receiver.requests) == 1, [r.body for r in receiver.requests]

    (trigger,) = [a for a in stack.automations() if a["name"] == EXPORT_TRIGGER["name"]]
    assert run["idempotency_key"].startswith(f"automation {trigger['id']}"), "the pack's trigger"
    assert {k: run["parameters"][k] for k in ("account", "credentials", "destination")} == {
        "account": ACCOUNT,  # from the event's payload
        # the block the watch read (its deployment's default), as a reference from the event
        "credentials": {"$ref": {"block_document_slug": "botpenguin-credentials/default"}},
        "destination": f"out/botpenguin-segments-{slug}.csv",  # from its related account
    }
    assert TOKEN not in json.dumps(run["parameters"])
    try:
        with exported.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert [(row["id"], row["name"]) for row in rows] == [
            (segment["_id"], segment["segmentName"]) for segment in changed
        ], "the export after the change"
    finally:
        exported.unlink(missing_ok=True)

    (message,) = receiver.requests
    assert message.json()["subject"] == f"BotPenguin segments changed in {ACCOUNT}"
    assert "The segments of BotPenguin account E2E Trigger Shop changed." in message.json()["body"]
    assert TOKEN not in message.body.decode() + repr(message.headers) + message.path


def test_deploying_again_keeps_the_triggers_and_the_applied_automations(fresh_stack):
    stack = fresh_stack
    before = stack.automations()
    triggers = stack.deployment_triggers()
    assert {name: len(found) for name, found in triggers.items()} == {
        EXPORT: 1,
        MEMBERS_EXPORT: 1,
    }
    deployment_ids = {name: stack.deployment(name)["id"] for name in triggers}

    stack.execute(stack.readme_command("prefect --no-prompt deploy"))

    assert stack.deployment_triggers() == triggers, "the same triggers, once each"
    assert {name: stack.deployment(name)["id"] for name in triggers} == deployment_ids
    after = {a["id"]: a for a in stack.automations()}
    applied = [a for a in before if a["name"].startswith("botpenguin: ")]
    assert len(applied) == 3
    for automation in applied:  # not owned by a deployment: untouched, same id
        assert after.get(automation["id"]) == automation
    assert len(after) == len(before), "nothing left behind, nothing doubled"
