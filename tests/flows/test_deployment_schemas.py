"""``deployments/prefect.yaml`` and ``botpenguin serve``, checked without a server.

The pins below are what the Prefect UI's run form shows for each deployment: every field's
name (in form order), type, prefilled value and help text. A change to a flow's signature or
docstring, or to a deployment's parameters, must change a pin here on purpose.
The end-to-end suite checks that a real server stores the same schema.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
import yaml
from prefect import Flow
from prefect.cli.deploy._models import DeploymentConfig, PrefectYamlModel, RawScheduleConfig
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools import validate

from prefect_botpenguin.deployments.serve import (
    PREFECT_FILE,
    build_deployments,
    build_triggers,
    load_deployment_specs,
    load_flow,
    pool_environment,
)

DEFAULT_CREDENTIALS = {"$ref": {"block_document_slug": "botpenguin-credentials/default"}}
CREDENTIALS = (
    "block[botpenguin-credentials] | null",
    DEFAULT_CREDENTIALS,
    "A saved BotPenguin Credentials block (pick one; its name also works). Leave empty to use "
    "the BOTPENGUIN_API_TOKEN and BOTPENGUIN_BASE_URL environment variables.",
)
FILESYSTEM_BLOCK = "block[local-file-system] | block[remote-file-system] | null"
FILESYSTEM = (
    FILESYSTEM_BLOCK,
    None,
    "A saved filesystem block to write into (pick one, or give BLOCK-TYPE/NAME such as "
    "local-file-system/exports). Leave empty to write to the destination directly.",
)
NOTIFY_BLOCK = (
    "block[slack-webhook] | block[ms-teams-webhook] | block[discord-webhook] | "
    "block[custom-webhook] | null"
)
EXPORT_DESTINATION = "out/botpenguin-segments-default.csv"
SNAPSHOTS = ".botpenguin/snapshots"

FORMS: dict[str, dict[str, tuple[str, Any, str]]] = {
    "segments-report": {
        "credentials": CREDENTIALS,
        "account": (
            "string | null",
            None,
            "Label for this account in artifact keys; defaults to the block name, else "
            "BOTPENGUIN_ACCOUNT.",
        ),
        "state": (
            "string",
            SNAPSHOTS,
            "The watch's state directory, where the size history the Trend column draws is "
            "read: a local path or an fsspec URL, or a path inside state_filesystem.",
        ),
        "state_filesystem": (
            FILESYSTEM_BLOCK,
            None,
            "A saved filesystem block holding the watch's state directory (pick one, or give "
            "BLOCK-TYPE/NAME). Leave empty for state alone.",
        ),
    },
    "segments-export": {
        "destination": (
            "string",
            EXPORT_DESTINATION,
            "Where to write: a local path (relative to the worker's directory), an fsspec URL "
            "such as s3://bucket/segments.parquet, or a path inside the filesystem block.",
        ),
        "credentials": CREDENTIALS,
        "account": (
            "string | null",
            None,
            "Label for this account in the artifact key; defaults to the block name, else "
            "BOTPENGUIN_ACCOUNT.",
        ),
        "format": (
            "enum[csv,json,jsonl,parquet] | null",
            None,
            "File format (csv, json, jsonl or parquet). Leave empty to take it from the "
            "destination's extension.",
        ),
        "filesystem": FILESYSTEM,
    },
    "segments-watch": {
        "credentials": CREDENTIALS,
        "account": (
            "string | null",
            None,
            "Label for this account in snapshots, events and artifact keys; defaults to the "
            "block name, else BOTPENGUIN_ACCOUNT.",
        ),
        "state": (
            "string",
            SNAPSHOTS,
            "Directory that keeps one snapshot per account: a local path or an fsspec URL such "
            "as s3://bucket/botpenguin (the back-end's package must be installed), or a path "
            "inside state_filesystem.",
        ),
        "state_filesystem": (
            FILESYSTEM_BLOCK,
            None,
            "A saved filesystem block holding the state directory (pick one, or give "
            "BLOCK-TYPE/NAME): shared storage lets any worker run the watch. Leave empty for "
            "state alone.",
        ),
        "notify": (
            "array[string] | null",
            None,
            "Where to send the change message: names of saved notification blocks (Slack, "
            "Teams, Custom Webhook, ...) and/or Apprise URLs such as slack://... . URLs given "
            "here are stored with the flow run, so keep secret ones in a block.",
        ),
        "notify_block": (
            NOTIFY_BLOCK,
            None,
            "One more target: a saved Slack, Teams, Discord or Custom Webhook block, picked "
            "from a list. The run keeps a reference to it, not its secrets.",
        ),
        "always_notify": (
            "boolean",
            False,
            "Send a message on every run, also when nothing changed or a baseline was recorded.",
        ),
        "accept_drop": (
            "boolean",
            False,
            "Trust a fetch that lost all or most segments at once, instead of holding it until "
            "the next run sees it too.",
        ),
        "reset_state": (
            "boolean",
            False,
            "Record a new baseline on purpose, replacing the saved state (e.g. one that is "
            "corrupted, of another account or of a newer format).",
        ),
        "drop_pending": (
            "boolean",
            False,
            "Give up on change messages that earlier runs could not deliver.",
        ),
        "members": (
            "array[string] | null",
            None,
            'Also report who joined and left segments: segment ids, or ["all"]. Their contact '
            "ids (ids only) are kept in a second snapshot beside the segments'; events, "
            "artifact and message carry counts and a few ids, never contact details. Their "
            "member counts also feed the size history of segments the API sends no count for.",
        ),
        "resize_relative": (
            "number | null",
            None,
            "Percent a segment's size must move since the previous run to notify (with "
            "resize_absolute). Leave empty for BOTPENGUIN_RESIZE_RELATIVE (10).",
        ),
        "resize_absolute": (
            "integer | null",
            None,
            "Contacts a segment must gain or lose to notify (with resize_relative). Leave "
            "empty for BOTPENGUIN_RESIZE_ABSOLUTE (10).",
        ),
    },
    "segments-sync": {
        "credentials": CREDENTIALS,
        "account": (
            "string | null",
            None,
            "Label for this account in artifact keys, snapshots and events; defaults to the "
            "block name, else BOTPENGUIN_ACCOUNT.",
        ),
        "publish_artifacts": (
            "boolean",
            True,
            "Publish the segments table and summary artifacts.",
        ),
        "export": ("ExportStep | null", ..., "The export step (off unless enabled)."),
        "export.enabled": ("boolean", False, "Write an export on every run."),
        "export.destination": (
            "string",
            EXPORT_DESTINATION,
            "A local path (relative to the worker's directory), an fsspec URL such as "
            "s3://bucket/segments.parquet, or a path inside the filesystem block.",
        ),
        "export.format": (
            "enum[csv,json,jsonl,parquet] | null",
            None,
            "csv, json, jsonl or parquet; empty takes it from the extension.",
        ),
        "export.filesystem": (
            FILESYSTEM_BLOCK,
            None,
            "A saved filesystem block to write into (or BLOCK-TYPE/NAME); empty writes to the "
            "destination directly.",
        ),
        "watch": (
            "WatchStep | null",
            ...,
            "The change-detection and notification step (on by default).",
        ),
        "watch.enabled": (
            "boolean",
            True,
            "Diff against the last snapshot and emit change events.",
        ),
        "watch.state": (
            "string",
            SNAPSHOTS,
            "Directory (local path, fsspec URL, or path inside state_filesystem) keeping one "
            "snapshot per account.",
        ),
        "watch.state_filesystem": (
            FILESYSTEM_BLOCK,
            None,
            "A saved filesystem block holding the state directory (or BLOCK-TYPE/NAME): shared "
            "storage lets any worker run the sync. Empty: state alone.",
        ),
        "watch.notify": (
            "array[string]",
            [],
            "Saved notification block names and/or Apprise URLs to tell about changes; URLs "
            "given here are stored with the flow run, so keep secret ones in a block.",
        ),
        "watch.notify_block": (
            NOTIFY_BLOCK,
            None,
            "One more target: a saved Slack, Teams, Discord or Custom Webhook block, picked "
            "from a list; the run keeps a reference to it, not its secrets.",
        ),
        "watch.always_notify": (
            "boolean",
            False,
            "Send a message on every run, also when nothing changed.",
        ),
        "watch.members": (
            "array[string] | null",
            None,
            'Also report who joined and left segments: segment ids, or ["all"]; empty: off. '
            "Contact ids are kept beside the snapshot; messages carry counts only.",
        ),
        "watch.accept_drop": (
            "boolean",
            False,
            "Trust a fetch that lost all or most segments at once, instead of holding it until "
            "the next run sees it too.",
        ),
        "watch.reset_state": (
            "boolean",
            False,
            "Record a new baseline on purpose, replacing the saved state (e.g. one that is "
            "corrupted, of another account or of a newer format).",
        ),
        "watch.drop_pending": (
            "boolean",
            False,
            "Give up on change messages that earlier runs could not deliver.",
        ),
    },
    "segments-members-export": {
        "destination": (
            "string",
            "out/botpenguin-members-default.parquet",
            "Where to write: a local path (relative to the worker's directory), an fsspec URL "
            "such as s3://bucket/members.parquet, or a path inside the filesystem block. Put "
            "{segment_id} in it for one file per segment.",
        ),
        "credentials": CREDENTIALS,
        "account": (
            "string | null",
            None,
            "Label for this account in the artifact key; defaults to the block name, else "
            "BOTPENGUIN_ACCOUNT.",
        ),
        "segments": (
            "array[string] | null",
            None,
            "Ids of the segments to export. Leave empty for every segment.",
        ),
        "fields": (
            "array[string] | null",
            None,
            "Contact fields to keep besides segment_id and id. Leave empty for all.",
        ),
        "format": (
            "enum[csv,json,jsonl,parquet] | null",
            None,
            "File format (csv, json, jsonl or parquet). Leave empty to take it from the "
            "destination's extension.",
        ),
        "filesystem": FILESYSTEM,
    },
    "segments-load": {
        "database": (
            "string | null",
            None,
            "SQLAlchemy URL of a PostgreSQL or SQLite database, kept as a secret (the run "
            "shows **********). Leave empty to use BOTPENGUIN_DB_URL, else the embedded file "
            ".botpenguin/snapshots/warehouse.sqlite. A URL without a password takes "
            "BOTPENGUIN_DB_PASSWORD.",
        ),
        "database_block": (
            "block[sqlalchemy-connector] | null",
            None,
            "A saved SQLAlchemy Connector block (pick one; needs prefect-botpenguin[database]). "
            "The run keeps a reference to it, not its password. Used when database is empty.",
        ),
        "credentials": CREDENTIALS,
        "account": (
            "string | null",
            None,
            "Label for this account in every row and the artifact key; defaults to the block "
            "name, else BOTPENGUIN_ACCOUNT.",
        ),
        "members": (
            "array[string] | null",
            None,
            'Segment ids whose memberships to load, or ["all"]. Leave empty to load the '
            "segments only.",
        ),
        "contact_fields": (
            "array[string] | null",
            None,
            'Contact fields to keep in the contacts table, or ["all"]. Leave empty to keep '
            "contact ids only (contacts are personal data).",
        ),
        "accept_drop": (
            "boolean",
            False,
            "Trust a fetch or member listing that lost all or most of the account at once, "
            "instead of holding it until the next load sees it too.",
        ),
    },
    "segments-fanout-sharded": {
        "credentials_blocks": (
            "array[string] | null",
            None,
            "Names of saved BotPenguin Credentials blocks, one per account.",
        ),
        "partner_credentials": (
            "block[botpenguin-credentials] | null",
            {"$ref": {"block_document_slug": "botpenguin-credentials/partner"}},
            "A saved BotPenguin Credentials block (pick one, or give its name) holding a "
            "partner's token: every customer the partner lists is collected too.",
        ),
        "partner_from_env": (
            "boolean",
            False,
            "Use BOTPENGUIN_API_TOKEN and BOTPENGUIN_BASE_URL as the partner's credentials "
            "instead of a block.",
        ),
        "concurrency": (
            "integer",
            8,
            "Most BotPenguin API calls in flight at once, across all accounts.",
        ),
        "concurrency_limit": (
            "string | null",
            None,
            "Name of a Prefect global concurrency limit that bounds several flows together: "
            "this run holds min(concurrency, limit) of its slots while it runs (in shards, "
            "each shard holds its share) and keeps its requests within them. Leave empty for "
            "none.",
        ),
        "rate_limit": (
            "string | null",
            None,
            "Name of a Prefect global concurrency limit with slot decay that paces every API "
            "call. Leave empty for none.",
        ),
        "export": (
            "string | null",
            "out/fanout/{account}.parquet",
            "Where to export: one file with an 'account' column, or one file per account when "
            "it contains {account} (e.g. exports/{account}.csv). Leave empty for none.",
        ),
        "export_format": (
            "enum[csv,json,jsonl,parquet] | null",
            None,
            "File format (csv, json, jsonl or parquet). Leave empty to take it from the "
            "export's extension.",
        ),
        "export_filesystem": (
            "block[local-file-system] | block[remote-file-system] | null",
            None,
            "A saved filesystem block to write into (pick one, or give BLOCK-TYPE/NAME such "
            "as local-file-system/exports). Leave empty to write to the export path directly.",
        ),
        "shards": (
            "integer",
            4,
            "Split the accounts into this many shards, each its own flow run writing its "
            "accounts' files (export must contain {account}); 1 runs as one flow. See the "
            "Scale out page of the docs.",
        ),
        "shard_deployment": (
            "string | null",
            "botpenguin-fanout-shard/fanout-shard",
            "The shard flow's deployment (FLOW/DEPLOYMENT, e.g. "
            "botpenguin-fanout-shard/fanout-shard): shards run on its work pool's workers. "
            "Leave empty to run the shards in this process.",
        ),
        "shard_attempts": (
            "integer",
            3,
            "Runs per shard at most: a crashed or failed shard runs again.",
        ),
        "shard_timeout": (
            "number | null",
            3600,
            "Seconds the run waits for its shards at most; a shard still running then counts "
            "as failed. Leave empty to wait until every shard ends.",
        ),
        "manifest": (
            "string | null",
            None,
            "Where the sharded run writes its manifest (every account once, with its files); "
            "default _manifest.json beside the export.",
        ),
    },
    "fanout-shard": {
        "what": (
            "enum[segments,members]",
            None,
            "segments (each account's segments) or members (each account's contacts).",
        ),
        "shard": (
            "integer",
            None,
            "This shard's index, from 0.",
        ),
        "shards": (
            "integer",
            None,
            "How many shards the parent made.",
        ),
        "run_key": (
            "string",
            None,
            "The parent's run, written into the report so a stale report is refused.",
        ),
        "export": (
            "string",
            None,
            "Each account's file; must contain {account}, may contain {shard}.",
        ),
        "report_path": (
            "string",
            None,
            "Where to write this shard's report (JSON), on the export's filesystem; a re-run "
            "writes beside it (shard-0.attempt-2.json).",
        ),
        "credentials_blocks": (
            "array[string] | null",
            None,
            "Names of saved BotPenguin Credentials blocks in this shard.",
        ),
        "partner_credentials": (
            "block[botpenguin-credentials] | null",
            None,
            "The partner's saved BotPenguin Credentials block (its name), for the customers "
            "in customer_ids.",
        ),
        "partner_from_env": (
            "boolean",
            False,
            "Use BOTPENGUIN_API_TOKEN and BOTPENGUIN_BASE_URL of the worker as the partner's "
            "credentials instead of a block.",
        ),
        "customer_ids": (
            "array[string] | null",
            None,
            "The partner's customers in this shard.",
        ),
        "labels": (
            "object | null",
            None,
            "Account names by reference (block name, or customer:ID); default: the block "
            "name, else the customer id.",
        ),
        "file_keys": (
            "object | null",
            None,
            "What replaces {account} per reference; default: the label as a slug.",
        ),
        "export_format": (
            "enum[csv,json,jsonl,parquet] | null",
            None,
            "File format (csv, json, jsonl or parquet); default: the extension's.",
        ),
        "export_filesystem": (
            "block[local-file-system] | block[remote-file-system] | null",
            None,
            "A saved filesystem block as BLOCK-TYPE/NAME; empty: the path.",
        ),
        "concurrency": (
            "integer",
            8,
            "Most API calls in flight at once in this shard.",
        ),
        "concurrency_limit": (
            "string | null",
            None,
            "Prefect global concurrency limit whose slots this shard holds (as many as "
            "concurrency) while it runs.",
        ),
        "rate_limit": (
            "string | null",
            None,
            "Prefect global concurrency limit with slot decay pacing every call.",
        ),
        "lease_seconds": (
            "number | null",
            None,
            "How soon the server frees this shard's slots if its process dies.",
        ),
        "segments": (
            "array[string] | null",
            None,
            "Members only: ids of the segments to export; empty: every segment.",
        ),
        "fields": (
            "array[string] | null",
            None,
            "Members only: contact fields to keep besides segment_id and id.",
        ),
        "attempt": (
            "integer",
            1,
            "Which run of this shard this is (the parent counts from 1); from 2 on, the temp "
            "files a killed run left beside this shard's files are removed.",
        ),
    },
}
"""Per deployment, the run form: field -> (type, prefilled value, help text); ``...`` = a group."""

SCHEDULES = {
    "segments-report": ("0 * * * *", True),  # reads only: on
    "segments-export": ("0 6 * * *", False),  # writes files
    "segments-watch": ("*/15 * * * *", False),  # writes snapshots, notifies
    "segments-sync": ("30 * * * *", False),  # writes snapshots and files, notifies
    "segments-members-export": ("0 7 * * *", False),  # writes personal data to files
    "segments-load": ("0 5 * * *", False),  # writes to a database
    "segments-fanout-sharded": ("0 4 * * *", False),  # needs a partner block, writes files
}
STARTED_BY_A_PARENT = {"fanout-shard"}
"""Deployments only a parent run starts (no schedule, no defaults, many runs at once)."""
FANOUTS = {"segments-fanout-sharded"}
"""Deployments of many accounts: a partner's credentials block instead of one account's."""
PARTNER_CREDENTIALS = {"$ref": {"block_document_slug": "botpenguin-credentials/partner"}}

SEGMENT_CHANGES = [f"botpenguin.segment.{what}" for what in ("changed", "created", "removed")]
CREDENTIALS_FROM_EVENT = {
    "__prefect_kind": "json",  # an object (or null) on every Prefect 3, not a string
    "value": {"__prefect_kind": "jinja", "template": "{{ event.payload.credentials | tojson }}"},
}
"""The block the watch read, passed on from its event."""
TRIGGERS: dict[str, list[tuple[bool, list[str], dict[str, Any]]]] = {
    "segments-export": [
        (
            True,  # nothing fires until a watch or sync run (off by default) finds changes
            SEGMENT_CHANGES,
            {
                "account": "{{ event.payload.account }}",
                "credentials": CREDENTIALS_FROM_EVENT,
                "destination": "out/botpenguin-segments-{{ event.resource_in_role.account.id "
                "| replace('botpenguin.account.', '') }}.csv",
            },
        )
    ],
    "segments-members-export": [
        (
            False,  # writes personal data: someone chooses where first
            ["botpenguin.segment.members.changed"],
            {
                "account": "{{ event.payload.account }}",
                "credentials": CREDENTIALS_FROM_EVENT,
                "destination": "out/botpenguin-members-{{ event.resource_in_role.account.id "
                "| replace('botpenguin.account.', '') }}.parquet",
            },
        )
    ],
}
"""Per deployment, its triggers: (enabled, expected events, parameters from the event)."""
HEARTBEAT_ENV = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}
HEARTBEATS = {"segments-watch", "segments-sync", "fanout-shard"}

SPECS = {spec["name"]: spec for spec in load_deployment_specs()}


def type_of(prop: dict[str, Any], definitions: dict[str, Any]) -> str:
    """A field's type as the form renders it: a block field is a picker of saved blocks."""
    if "anyOf" in prop:
        return " | ".join(type_of(option, definitions) for option in prop["anyOf"])
    if "$ref" in prop:
        name = str(prop["$ref"]).rsplit("/", 1)[-1]
        slug = definitions[name].get("block_type_slug")
        return f"block[{slug}]" if slug else name
    if "enum" in prop:
        return f"enum[{','.join(prop['enum'])}]"
    if prop.get("type") == "array":
        return f"array[{type_of(prop['items'], definitions)}]"
    return str(prop["type"])


def run_form(spec: dict[str, Any]) -> dict[str, tuple[str, Any, str]]:
    """What the UI's Custom run form shows: the flow's schema, filled with the deployment's values.

    Whitespace in help texts is normalised: docstring line breaks render as spaces.
    """
    schema = parameter_schema(load_flow(spec["entrypoint"])).model_dump()
    definitions = schema.get("definitions", {})
    form: dict[str, tuple[str, Any, str]] = {}

    def add(name: str, prop: dict[str, Any], value: Any) -> None:
        help_text = " ".join(prop.get("description", "").split())
        refs = [
            o["$ref"]
            for o in prop.get("anyOf", [prop])
            if "$ref" in o and "block_type_slug" not in definitions[o["$ref"].rsplit("/", 1)[-1]]
        ]
        if not refs:  # a value, or a block picker (the block's fields are not in the form)
            form[name] = (type_of(prop, definitions), value, help_text)
            return
        form[name] = (type_of(prop, definitions), ..., help_text)
        group = definitions[refs[0].rsplit("/", 1)[-1]]
        for field, inner in group["properties"].items():
            add(f"{name}.{field}", inner, (value or {}).get(field, inner.get("default")))

    for name, prop in schema["properties"].items():
        add(name, prop, spec["parameters"].get(name, prop.get("default")))
    return form


def test_prefect_yaml_holds_one_deployment_per_pinned_flow():
    assert list(SPECS) == list(FORMS)


@pytest.mark.parametrize("name", list(FORMS))
def test_run_form_is_pinned(name):
    assert run_form(SPECS[name]) == FORMS[name]


@pytest.mark.parametrize("name", list(FORMS))
def test_every_form_field_has_help_text_ending_with_a_full_stop(name):
    for field, (_, _, help_text) in run_form(SPECS[name]).items():
        assert help_text.endswith("."), f"{name}: {field} needs help text for the UI"


@pytest.mark.parametrize("name", list(FORMS))
def test_deployment_parameters_are_valid_flow_parameters(name):
    spec = SPECS[name]
    schema = parameter_schema(load_flow(spec["entrypoint"])).model_dump_for_openapi()
    if name in STARTED_BY_A_PARENT:
        assert spec["parameters"] == {}, "the parent gives every parameter"
        return
    assert list(spec["parameters"]) == list(schema["properties"]), "every field, in form order"
    validate(spec["parameters"], schema, raise_on_error=True, ignore_required=False)


def test_prefect_yaml_is_what_prefect_deploy_reads_with_no_ignored_keys():
    raw = yaml.safe_load(PREFECT_FILE.read_text(encoding="utf-8"))
    model = PrefectYamlModel.model_validate(raw)  # the model `prefect deploy` loads
    assert [d.name for d in model.deployments] == list(SPECS)
    for spec in SPECS.values():
        # Prefect ignores unknown keys, so a typo (`concurency_limit`) would pass silently.
        assert set(spec) <= set(DeploymentConfig.model_fields), spec["name"]
        for schedule in spec["schedules"]:
            RawScheduleConfig.model_validate(schedule)  # forbids unknown keys


@pytest.mark.parametrize("name", list(FORMS))
def test_deployment_runs_on_the_process_pool_one_run_at_a_time(name):
    spec = SPECS[name]
    assert spec["work_pool"]["name"] == "botpenguin"
    assert spec["paused"] is False
    assert "botpenguin" in spec["tags"]
    assert spec["description"].endswith(".")
    if name in STARTED_BY_A_PARENT:  # shards of one parent run side by side, never scheduled
        assert "concurrency_limit" not in spec
        assert spec["schedules"] == []
        return
    assert spec["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
    assert [(s["cron"], s["active"]) for s in spec["schedules"]] == [SCHEDULES[name]]
    assert all(s["timezone"] == "UTC" for s in spec["schedules"])


def test_credentials_are_referenced_by_block_slug_only():
    """A slug reference: `prefect deploy` would inline the block's data for an id reference."""
    text = PREFECT_FILE.read_text(encoding="utf-8")
    assert "api_token" not in text
    assert "BOTPENGUIN_API_TOKEN" not in text
    assert "prefect.blocks." not in text.split("\nname:", 1)[1], "a placeholder inlines the data"
    for spec in SPECS.values():
        if spec["name"] in FANOUTS:
            assert spec["parameters"]["partner_credentials"] == PARTNER_CREDENTIALS
        elif spec["name"] not in STARTED_BY_A_PARENT:
            assert spec["parameters"]["credentials"] == DEFAULT_CREDENTIALS
        env = HEARTBEAT_ENV if spec["name"] in HEARTBEATS else None
        expected = {"working_dir": ".", **({"env": env} if env else {})}
        assert spec["work_pool"]["job_variables"] == expected, "no env vars smuggling a token"


def test_workers_run_the_installed_package_not_a_checkout():
    raw = yaml.safe_load(PREFECT_FILE.read_text(encoding="utf-8"))
    assert raw["build"] is None
    assert raw["pull"] == [{"prefect.deployments.steps.set_working_directory": {"directory": "."}}]
    for spec in SPECS.values():
        module, _, name = spec["entrypoint"].partition(":")
        assert module.startswith("prefect_botpenguin.flows."), "module paths, not file paths"
        assert isinstance(getattr(importlib.import_module(module), name), Flow)


def test_serve_builds_the_deployments_prefect_yaml_describes():
    served = {deployment.name: deployment for deployment in build_deployments()}
    assert list(served) == list(SPECS)
    for name, spec in SPECS.items():
        deployment = served[name]
        assert deployment.entrypoint == spec["entrypoint"].replace(":", "."), "a module path"
        assert deployment.description == spec["description"]
        assert deployment.tags == spec["tags"]
        assert deployment.parameters == spec["parameters"]
        assert deployment.paused is False
        if name in STARTED_BY_A_PARENT:
            assert deployment.concurrency_limit is None
        else:
            assert deployment.concurrency_limit == 1
            assert deployment.concurrency_options is not None
            assert deployment.concurrency_options.collision_strategy == "ENQUEUE"
        assert [
            (s.schedule.cron, s.schedule.timezone, s.active)  # type: ignore[union-attr]
            for s in deployment.schedules or []
        ] == [(s["cron"], s["timezone"], s["active"]) for s in spec["schedules"]]
        assert deployment.work_pool_name is None, "served by the process itself"


@pytest.mark.parametrize("name", list(FORMS))
def test_triggers_are_pinned(name):
    triggers = SPECS[name].get("triggers") or []
    assert [(t["enabled"], sorted(t["expect"]), t["parameters"]) for t in triggers] == TRIGGERS.get(
        name, []
    )
    for trigger in triggers:
        # One run per account, for the first change of a burst; the account's own events only.
        assert trigger["match"] == {"prefect.resource.id": "botpenguin.segment.*"}
        assert trigger["match_related"] == {
            "prefect.resource.role": "account",
            "prefect.resource.id": "botpenguin.account.*",
        }
        assert trigger["for_each"] == ["related:account:prefect.resource.id"]
        assert (trigger["posture"], trigger["threshold"], trigger["within"]) == ("Reactive", 1, 60)
        assert trigger["description"].endswith(".")


def _automation(trigger: Any, deployment_id: Any) -> dict[str, Any]:
    trigger.set_deployment_id(deployment_id)
    return dict(trigger.as_automation().model_dump(mode="json"))


def test_serve_registers_the_automations_prefect_deploy_registers():
    import copy
    import uuid

    from prefect.cli.deploy._triggers import _initialize_deployment_triggers

    deployment_id = uuid.uuid4()
    served = {deployment.name: deployment for deployment in build_deployments()}
    for name, spec in SPECS.items():
        # What `prefect deploy` creates: its own parser, on the file's (untemplated) specs.
        deployed = _initialize_deployment_triggers(name, copy.deepcopy(spec.get("triggers") or []))
        assert [_automation(t, deployment_id) for t in served[name].triggers] == [
            _automation(t, deployment_id) for t in deployed
        ], name
        assert [_automation(t, deployment_id) for t in build_triggers(spec)] == [
            _automation(t, deployment_id) for t in deployed
        ]


SHOP_B = {"$ref": {"block_document_slug": "botpenguin-credentials/shop-b"}}


@pytest.mark.parametrize("credentials", [SHOP_B, None], ids=["saved-block", "settings"])
@pytest.mark.parametrize("name", list(TRIGGERS))
def test_trigger_parameters_render_from_a_change_event_into_valid_flow_parameters(
    name, credentials
):
    """Rendered the way Prefect's RunDeployment action renders them, from a real event: the
    event's credentials reference (or null) reaches the run as it is, not as text."""
    from datetime import UTC, datetime

    from prefect.server.events.actions import RunDeployment
    from prefect.server.events.schemas.events import ReceivedEvent
    from prefect.utilities.schema_tools.hydration import HydrationContext, hydrate

    from prefect_botpenguin.changes import change_event_specs
    from prefect_botpenguin.core.diff import diff_segments
    from prefect_botpenguin.core.models import Segment

    created = Segment.model_validate({"_id": "seg-1", "segmentName": "VIP"})
    diff = diff_segments([], [created])
    spec = change_event_specs(diff, "Larkspur Tea Co.", fetched_at=datetime.now(UTC))[0]
    payload = {**spec["payload"], "credentials": credentials}
    event = ReceivedEvent.model_validate(
        {**spec, "event": TRIGGERS[name][0][1][0], "payload": payload}
    )
    parameters = dict(SPECS[name]["triggers"][0]["parameters"])
    RunDeployment._upgrade_v1_templates(parameters)
    context = HydrationContext(render_jinja=True, jinja_context={"event": event})
    rendered = hydrate(parameters, context)
    suffix = ".csv" if name == "segments-export" else ".parquet"
    kind = "segments" if name == "segments-export" else "members"
    assert rendered == {
        "account": "Larkspur Tea Co.",
        "credentials": credentials,
        "destination": f"out/botpenguin-{kind}-larkspur-tea-co{suffix}",
    }
    schema = parameter_schema(load_flow(SPECS[name]["entrypoint"])).model_dump_for_openapi()
    validate({**SPECS[name]["parameters"], **rendered}, schema, raise_on_error=True)


def test_serve_passes_the_pools_heartbeat_frequency_to_its_runs():
    assert pool_environment(list(SPECS.values())) == HEARTBEAT_ENV


def test_readme_scale_out_snippets_are_valid_parameters_and_pull_steps():
    """The docs' shared-storage parameters fit the watch's form; its pull steps exist."""
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "deployments.md"
    readme = page.read_text(encoding="utf-8")
    section = readme.split("\n## Scale out", 1)[1].split("\n## ", 1)[0]
    parameters_block, pull_block = re.findall(r"```yaml\n(.*?)```", section, re.S)
    parameters = yaml.safe_load(parameters_block)["parameters"]
    watch = SPECS["segments-watch"]
    schema = parameter_schema(load_flow(watch["entrypoint"])).model_dump_for_openapi()
    validate({**watch["parameters"], **parameters}, schema, raise_on_error=True)
    for step in yaml.safe_load(pull_block)["pull"]:
        (qualified,) = step
        module, _, name = qualified.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name)), qualified
