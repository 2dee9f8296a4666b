"""deployments/EVENTS.md documents every event, label and payload key the watch emits.

The names and keys are read from what ``change_event_specs`` really builds, so a new event
or payload key fails here until the user-facing contract says what it means.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from prefect_botpenguin import changes, history_events, membership
from prefect_botpenguin.changes import _without_values, change_event_specs
from prefect_botpenguin.core.diff import diff_segments
from prefect_botpenguin.core.membership_diff import MembershipChange
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.core.schema_drift import SchemaDrift
from prefect_botpenguin.core.thresholds import Resize
from prefect_botpenguin.history_events import history_event_specs
from prefect_botpenguin.membership import membership_event_specs
from prefect_botpenguin.sandbox import SandboxServer
from prefect_botpenguin.sandbox.cli import CONTROL_API_HELP

EVENTS_MD = Path(__file__).parents[2] / "deployments" / "EVENTS.md"
DOC = EVENTS_MD.read_text(encoding="utf-8")
CODE = set(re.findall(r"`([^`\n]+)`", DOC))
"""Every `code span` of the document: names count as documented only when written as code."""


def history_events_of_a_run() -> list[dict[str, Any]]:
    """One resized and one schema-changed event."""
    return history_event_specs(
        "Larkspur",
        resizes={"a1": Resize(4, 50, 1150.0)},
        drift=SchemaDrift(appeared=("tier",)),
        names={"a1": "VIPs"},
        change="c",
        previous_fetched_at=datetime.now(UTC),
    )


def every_kind_of_event() -> list[dict[str, Any]]:
    """One created, one removed and one changed (renamed) event, plus an oversized one, and
    the history's resized and schema-changed events."""
    kept = Segment.model_validate({"_id": "a1", "segmentName": "VIP", "contactCount": 4})
    renamed = Segment.model_validate({"_id": "a1", "segmentName": "VIPs", "contactCount": 5})
    removed = Segment.model_validate({"_id": "b2", "segmentName": "Lapsed"})
    created = Segment.model_validate({"_id": "c3", "segmentName": "New"})
    diff = diff_segments([kept, removed], [renamed, created])
    specs = change_event_specs(diff, "Larkspur", fetched_at=datetime.now(UTC))
    members = [MembershipChange(segment_id="a1", joined=("c1",), left=(), members=5, name="VIP")]
    return [
        *specs,
        *[_without_values(spec) for spec in specs],
        *membership_event_specs(members, "Larkspur", fetched_at=datetime.now(UTC)),
        *history_events_of_a_run(),
    ]


def test_every_event_name_the_watch_emits_is_documented():
    specs = every_kind_of_event()
    emitted = {spec["event"] for spec in specs}
    declared = {
        value
        for module in (changes, membership, history_events)
        for name, value in vars(module).items()
        if name.startswith("EVENT_") and isinstance(value, str)
    }
    assert emitted == declared
    assert emitted <= CODE, f"undocumented in {EVENTS_MD.name}: {sorted(emitted - CODE)}"


def test_every_payload_key_is_documented():
    keys = {key for spec in every_kind_of_event() for key in spec["payload"]}
    assert keys <= CODE, f"undocumented payload keys: {sorted(keys - CODE)}"


def test_every_resource_and_related_label_is_documented():
    labels = set()
    for spec in every_kind_of_event():
        labels.update(spec["resource"])
        for related in spec["related"]:
            labels.update(related)
    assert labels <= CODE, f"undocumented labels: {sorted(labels - CODE)}"
    assert "botpenguin.segment.<segment id>" in CODE
    assert "botpenguin.account.<slug>" in CODE


@pytest.mark.parametrize(
    "spec",
    [*every_kind_of_event()[:3], *history_events_of_a_run()],
    ids=lambda spec: spec["event"],
)
def test_every_event_has_an_example_with_its_payload_keys(spec):
    example = DOC.split(f'"event": "{spec["event"]}"', 1)
    assert len(example) == 2, f"no JSON example of {spec['event']}"
    body = example[1].split("```", 1)[0]
    for key in spec["payload"]:
        assert f'"{key}"' in body, f"the {spec['event']} example lacks {key}"


def test_every_sandbox_control_endpoint_is_documented_and_in_its_help(sandbox: SandboxServer):
    for path, methods in sandbox._control_routes.items():
        for method in methods:
            assert f"`{method} {path}`" in DOC
            assert re.search(rf"{method}\s+{re.escape(path)}\b", CONTROL_API_HELP), path


def test_every_asset_key_form_and_materialization_payload_key_is_documented():
    from prefect_botpenguin.assets import MATERIALIZED_BY, RECORD_TASK_NAME
    from prefect_botpenguin.exports import ExportResult, export_metadata
    from prefect_botpenguin.members import MemberFile, MembersExportResult, _file_metadata

    local = "file:///srv/exports/segments.csv"
    export = ExportResult(
        destination="/srv/exports/segments.csv",
        url=local,
        format="csv",
        count=6,
        size_bytes=10,
        asset_key=local,
    )
    file = MemberFile(
        destination="/srv/m.csv", url="file:///srv/m.csv", count=3, size_bytes=5, asset_key=local
    )
    members = MembersExportResult(
        destination="/srv/m.csv",
        format="csv",
        count=3,
        segments={"a1": 3},
        files=[file],
        size_bytes=5,
    )
    keys = set(export_metadata(export, "Larkspur")) | set(_file_metadata(file, members, "L"))
    assert keys <= CODE, f"undocumented materialization payload keys: {sorted(keys - CODE)}"
    for documented in (
        "botpenguin://<api-host>/<account-slug>/segments",
        "botpenguin://<api-host>/<account-slug>/members",
        "block://<block-type>/<block-name>/<path>",
        "prefect.asset.materialization.succeeded",
        "prefect.asset.referenced",
        RECORD_TASK_NAME,
        MATERIALIZED_BY,
    ):
        assert documented in CODE, documented
