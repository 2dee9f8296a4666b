"""The README's "Run on a Prefect server", for real: SQLite server, process pool, worker, UI.

The ``sqlite_stack`` fixture has already run every command of that section (see conftest);
these tests check what the commands printed and then drive the deployments through the
Prefect API and the UI. ``botpenguin serve`` runs last, because serving takes the
deployments over from the work pool.
"""

from __future__ import annotations

import csv
import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser import OUTPUT, decode_png, ink_heights, text_box, ui_page
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from prefect.utilities.callables import parameter_schema

from prefect_botpenguin.artifacts import segment_table_rows, segments_artifact_key
from prefect_botpenguin.change_summary import changes_artifact_key
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.core.size_history import (
    SizeHistory,
    append_sizes,
    history_location,
    write_history,
)
from prefect_botpenguin.deployments.serve import load_deployment_specs, load_flow
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
REPORT = "botpenguin-segments-report/segments-report"
EXPORT = "botpenguin-segments-export/segments-export"
WATCH = "botpenguin-segments-watch/segments-watch"
SYNC = "botpenguin-segments-sync/segments-sync"
SAMPLE_IDS = [segment["_id"] for segment in SAMPLE_SEGMENTS]
DEFAULT_CREDENTIALS = {"$ref": {"block_document_slug": "botpenguin-credentials/default"}}
FLOW_RUN_SECONDS = 180
REPORT_STATE = {"state": ".botpenguin/snapshots", "state_filesystem": None}
"""The report deployment's other parameters, prefilled in the run form (prefect.yaml)."""


def expected_rows(segments: list[dict[str, object]]) -> list[dict[str, object]]:
    return segment_table_rows([Segment.model_validate(segment) for segment in segments])


def test_readme_run_completes_and_its_artifact_holds_the_sample_segments(sqlite_stack):
    watched = sqlite_stack.output_of("prefect deployment run")
    assert "prefect.flow-run.Completed" in watched, watched

    inspected = sqlite_stack.output_of("prefect artifact inspect botpenguin-segments-default")
    for segment in SAMPLE_SEGMENTS:
        assert segment["_id"] in inspected

    assert sqlite_stack.latest_rows("botpenguin-segments-default") == expected_rows(SAMPLE_SEGMENTS)


def test_readme_event_stream_shows_the_run_state_changes(sqlite_stack):
    stream = sqlite_stack.service("events")
    stream.wait_for_output(r"prefect\.flow-run\.Completed prefect\.flow-run\.", timeout=30)


def test_every_prefect_yaml_deployment_is_on_the_server_as_written(sqlite_stack):
    for spec in load_deployment_specs():
        flow = load_flow(spec["entrypoint"])
        deployment = sqlite_stack.deployment(f"{flow.name}/{spec['name']}")

        assert deployment["work_pool_name"] == "botpenguin"
        assert deployment["description"] == spec["description"]
        assert deployment["tags"] == spec["tags"]
        assert deployment["parameters"] == spec["parameters"]
        assert deployment["pull_steps"] == [
            {"prefect.deployments.steps.set_working_directory": {"directory": "."}}
        ], "a worker runs the installed package, from wherever it was started"
        assert deployment["entrypoint"] == spec["entrypoint"], "a module path, not a file"
        assert deployment["job_variables"] == spec["work_pool"]["job_variables"]
        if "concurrency_limit" in spec:
            assert deployment["global_concurrency_limit"]["limit"] == 1
            assert deployment["concurrency_options"]["collision_strategy"] == "ENQUEUE"
        else:  # the shard deployment: a parent's shards run side by side
            assert deployment["global_concurrency_limit"] is None
        assert [
            (s["schedule"]["cron"], s["schedule"]["timezone"], s["active"])
            for s in deployment["schedules"]
        ] == [(s["cron"], s["timezone"], s["active"]) for s in spec["schedules"]]

        local = parameter_schema(flow).model_dump()
        served = deployment["parameter_openapi_schema"]
        assert served["properties"] == local["properties"], "the UI form is the flow's signature"
        assert served.get("required", []) == local.get("required", [])


def test_report_triggered_through_the_api_publishes_the_table(sqlite_stack):
    run = sqlite_stack.run_deployment(REPORT, {"account": "E2E Report"})

    key = segments_artifact_key("E2E Report")
    assert key == "botpenguin-segments-e2e-report"
    assert sqlite_stack.latest_rows(key) == expected_rows(SAMPLE_SEGMENTS)
    keys = {artifact["key"] for artifact in sqlite_stack.run_artifacts(run["id"])}
    assert {key, f"{key}-summary"} <= keys


def test_export_triggered_through_the_api_writes_the_file(sqlite_stack, tmp_path):
    destination = tmp_path / "exports" / "segments.csv"
    run = sqlite_stack.run_deployment(
        EXPORT, {"destination": str(destination), "account": "e2e-export"}
    )

    with destination.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["id"] for row in rows] == SAMPLE_IDS
    assert rows[4]["name"] == SAMPLE_SEGMENTS[4]["segmentName"], "quotes and newlines survive"
    artifacts = {a["key"]: a for a in sqlite_stack.run_artifacts(run["id"])}
    link = artifacts["botpenguin-export-e2e-export"]["data"]  # Prefect keeps links as markdown
    assert str(destination) in link
    assert "a path on the worker machine" in link

    # The worker's run recorded the file as an asset materialized from the account.
    key = f"file://{destination}"
    deadline = time.monotonic() + 30
    while not (materialized := sqlite_stack.events("prefect.asset.materialization.", key)):
        assert time.monotonic() < deadline, f"no materialization of {key} stored"
        time.sleep(1)
    assert [event["event"] for event in materialized] == ["prefect.asset.materialization.succeeded"]
    upstream = {r["prefect.resource.id"] for r in materialized[0]["related"]}
    assert f"botpenguin://{sqlite_stack.sandbox.url.split('://')[1]}/e2e-export/segments" in (
        upstream
    )
    assert materialized[0]["payload"]["segments"] == len(SAMPLE_IDS)


def test_watch_triggered_through_the_api_emits_change_events(sqlite_stack, tmp_path):
    token = "e2e-watch-account-token"
    sqlite_stack.sandbox.set_segments(token, SAMPLE_SEGMENTS[:3])
    sqlite_stack.save_credentials("e2e-watch", token)
    parameters = {
        "credentials": {"$ref": {"block_document_slug": "botpenguin-credentials/e2e-watch"}},
        "state": str(tmp_path / "snapshots"),
    }

    sqlite_stack.run_deployment(WATCH, parameters)  # records the baseline
    renamed = {**SAMPLE_SEGMENTS[0], "segmentName": "VIP tea club (gold)"}
    sqlite_stack.sandbox.set_segments(token, [renamed, SAMPLE_SEGMENTS[1]])
    sqlite_stack.run_deployment(WATCH, parameters)

    changed = f"botpenguin.segment.{SAMPLE_IDS[0]}"
    removed = f"botpenguin.segment.{SAMPLE_IDS[2]}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = {
            (event["event"], event["resource"]["prefect.resource.id"])
            for event in sqlite_stack.events("botpenguin.segment.")
        }
        if {("botpenguin.segment.changed", changed), ("botpenguin.segment.removed", removed)} <= (
            found
        ):
            break
        time.sleep(1)
    else:
        pytest.fail(f"change events not stored; found {sorted(found)}")
    sqlite_stack.service("events").wait_for_output(
        rf"botpenguin\.segment\.changed {changed}", timeout=30
    )


def test_sync_triggered_through_the_api_publishes_exports_and_snapshots(sqlite_stack, tmp_path):
    destination = tmp_path / "sync" / "segments.json"
    state = tmp_path / "snapshots"
    run = sqlite_stack.run_deployment(
        SYNC,
        {
            "account": "e2e-sync",
            "export": {"enabled": True, "destination": str(destination)},
            "watch": {"state": str(state)},
        },
    )

    assert sqlite_stack.latest_rows("botpenguin-segments-e2e-sync") == expected_rows(
        SAMPLE_SEGMENTS
    )
    assert [segment["id"] for segment in json.loads(destination.read_text(encoding="utf-8"))] == (
        SAMPLE_IDS
    )
    assert (state / "e2e-sync.json").is_file(), "the baseline snapshot"
    keys = {artifact["key"] for artifact in sqlite_stack.run_artifacts(run["id"])}
    assert {
        "botpenguin-segments-e2e-sync",
        "botpenguin-export-e2e-sync",
        changes_artifact_key("e2e-sync"),
    } <= keys


def open_custom_run(page: Page, ui_url: str, deployment_id: str, run_name: str) -> None:
    """Deployment page, Run, Custom run; once the form has loaded (credentials is a block
    picker), name the run."""
    page.goto(f"{ui_url}/deployments/deployment/{deployment_id}")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run").click()
    expect(form_parameter(page, "credentials")).to_contain_text("BotPenguin Credentials block")
    page.locator(".flow-run-name-input input").fill(run_name)


def form_parameter(page: Page, name: str) -> Locator:
    """The run form's field for parameter ``name`` (label, input and help text)."""
    label = page.locator(".schema-form-property__label", has_text=re.compile(rf"^{name}\b"))
    return page.locator(".schema-form-property").filter(has=label)


def submit_run_form(page: Page, failed: list[str]) -> None:
    """Click Submit until the UI leaves the form for the deployment's runs.

    On SQLite under load the server may answer 503 ("busy, try again"); Prefect's clients
    retry it, the UI shows "Oops" instead, and a person clicks Submit again.
    """
    for _ in range(3):
        page.get_by_role("button", name="Submit").click()
        try:
            page.wait_for_url(lambda url: not urlsplit(url).path.endswith("/run"), timeout=30_000)
            return
        except PlaywrightTimeoutError:
            if not any(line.startswith("503 ") for line in failed):
                raise
    pytest.fail(f"the server kept refusing the run: {failed}")


def open_run_and_expect_completed(page: Page, run_name: str) -> None:
    """Open the run from the runs list and wait for it to end; it must have Completed.

    Listed once a worker has started it (not while Scheduled), which a busy SQLite server may
    take a while to do.
    """
    page.get_by_role("link", name=run_name, exact=True).first.click(timeout=FLOW_RUN_SECONDS * 1000)
    state = page.locator(".state-badge").first
    expect(state).to_have_text(
        re.compile("Completed|Failed|Crashed|Cancelled"), timeout=FLOW_RUN_SECONDS * 1000
    )
    expect(state).to_have_text(re.compile("Completed"))


def test_custom_run_from_the_ui_shows_the_segments_table(chromium, sqlite_stack):
    """Deployment page, Run, Custom run, fill the form, Submit; then the run and its table.

    The browser is Debian's Chromium (the ``chromium`` fixture installs it); never a download.
    """
    deployment = sqlite_stack.deployment(REPORT)
    run_name = f"ui-e2e-{uuid.uuid4().hex[:8]}"

    with ui_page(chromium, "ui-segments-artifact.png") as (page, failed):
        open_custom_run(page, sqlite_stack.ui_url, deployment["id"], run_name)
        account = form_parameter(page, "account")
        expect(account).to_contain_text("artifact keys")  # the help text
        account.get_by_role("button", name="str", exact=True).click()
        account.locator("textarea").fill("UI E2E")
        submit_run_form(page, failed)
        open_run_and_expect_completed(page, run_name)

        page.get_by_text("Artifacts", exact=True).click()
        page.get_by_role("link").filter(has_text="botpenguin-segments-ui-e2e").filter(
            has_text="TABLE"
        ).click()
        table = page.get_by_role("table")
        for segment in SAMPLE_SEGMENTS:
            expect(table).to_contain_text(segment["_id"])
        expect(table).to_contain_text("Clientes de São Paulo")

    runs = sqlite_stack.api(
        "POST", "/flow_runs/filter", json={"flow_runs": {"name": {"any_": [run_name]}}}
    )
    assert [run["parameters"] for run in runs] == [
        {"credentials": DEFAULT_CREDENTIALS, "account": "UI E2E", **REPORT_STATE}
    ]


def test_custom_run_form_picks_a_saved_credentials_block(chromium, sqlite_stack):
    """The credentials field is a picker of saved blocks: pick one, Submit, and the run uses
    that block's account while its stored parameters hold a reference to it, not the token."""
    token = f"e2e-picked-{uuid.uuid4().hex}"
    block_name = f"ui-picked-{uuid.uuid4().hex[:8]}"
    sqlite_stack.sandbox.set_segments(token, SAMPLE_SEGMENTS[:2])
    sqlite_stack.save_credentials(block_name, token)
    block = sqlite_stack.api(
        "GET", f"/block_types/slug/botpenguin-credentials/block_documents/name/{block_name}"
    )
    deployment = sqlite_stack.deployment(REPORT)
    run_name = f"ui-pick-{uuid.uuid4().hex[:8]}"

    with ui_page(chromium, "ui-pick-credentials-block.png") as (page, failed):
        open_custom_run(page, sqlite_stack.ui_url, deployment["id"], run_name)
        credentials = form_parameter(page, "credentials")
        # The deployment's own reference (by slug) leaves the picker blank; open it and pick.
        credentials.locator(".block-document-input__select button").first.press("ArrowDown")
        page.get_by_role("option", name=block_name, exact=True).click()
        expect(credentials).to_contain_text(block_name)
        submit_run_form(page, failed)
        open_run_and_expect_completed(page, run_name)

    runs = sqlite_stack.api(
        "POST", "/flow_runs/filter", json={"flow_runs": {"name": {"any_": [run_name]}}}
    )
    assert [run["parameters"] for run in runs] == [
        {
            "credentials": {"$ref": {"block_document_id": block["id"]}},
            "account": None,
            **REPORT_STATE,
        }
    ]
    assert token not in json.dumps(runs)
    # The account of the picked block, labelled by the block's name: its two segments.
    assert sqlite_stack.latest_rows(f"botpenguin-segments-{block_name}") == expected_rows(
        SAMPLE_SEGMENTS[:2]
    )


TREND = "▁▂▃▄▅▆▇█ 100 → 800 (+700%)"


def test_report_artifact_draws_the_size_trend_chart_in_the_ui(chromium, sqlite_stack, tmp_path):
    """The report's summary on the server's artifact page, in Chromium: the Trend cell holds the
    sparkline, and its screenshot shows eight bars, each at least as tall as the one before."""
    account, state = "E2E Trend", tmp_path / "state"
    history, start = SizeHistory(account=account), datetime.now(UTC) - timedelta(hours=8)
    for hour, size in enumerate(range(100, 900, 100)):  # 8 runs of a growing audience
        history = append_sizes(history, {SAMPLE_IDS[0]: size}, start + timedelta(hours=hour))
    write_history(history, history_location(str(state), account))
    run = sqlite_stack.run_deployment(REPORT, {"account": account, "state": str(state)})
    key = f"{segments_artifact_key(account)}-summary"
    (summary,) = [a for a in sqlite_stack.run_artifacts(run["id"]) if a["key"] == key]
    cell_png, bars_png = OUTPUT / "ui-trend-cell.png", OUTPUT / "ui-trend-bars.png"

    with ui_page(chromium, "ui-trend-artifact.png") as (page, _):
        page.goto(f"{sqlite_stack.ui_url}/artifacts/artifact/{summary['id']}")
        cell = page.get_by_role("cell", name=TREND, exact=True)
        expect(cell).to_have_text(TREND)  # the DOM text of the rendered markdown table
        expect(page.get_by_role("cell", name="—", exact=True)).to_have_count(5)
        cell.scroll_into_view_if_needed()
        cell.screenshot(path=cell_png)
        page.screenshot(path=bars_png, clip=text_box(cell, TREND[:8]))
    print(f"\ntrend chart screenshot: {cell_png} (bars only: {bars_png})")

    pixels = decode_png(bars_png.read_bytes())
    heights = ink_heights(pixels, columns=8, background=pixels[0][0])
    assert heights[0] > 0, f"no ink where the bars are: {heights}"
    assert all(later >= earlier - 1 for earlier, later in pairwise(heights)), heights
    assert heights[-1] >= 4 * heights[0], f"the bars do not rise: {heights}"


def test_readme_serve_refuses_pool_deployments_then_serves_without_a_worker(sqlite_stack):
    """README: on one machine, serve instead of pool and worker; stopping pauses schedules."""
    sqlite_stack.service("worker").stop()
    command = sqlite_stack.readme_command("botpenguin serve")

    refused = sqlite_stack.start("serve-refused", sqlite_stack.argv(command))
    assert refused.process.wait(timeout=120) == 1
    assert "error: Already deployed to work pool 'botpenguin': " in refused.output()
    for spec in load_deployment_specs():  # every one is named, with the command to delete it
        name = f"{load_flow(spec['entrypoint']).name}/{spec['name']}"
        assert f"`prefect deployment delete {name}`" in refused.output()
    deployed = sqlite_stack.deployment_triggers()  # what `prefect deploy` registered
    assert {name: len(triggers) for name, triggers in deployed.items()} == {
        EXPORT: 1,
        "botpenguin-segments-members-export/segments-members-export": 1,
    }
    for spec in load_deployment_specs():  # what the message says to do
        flow = load_flow(spec["entrypoint"])
        deployment = sqlite_stack.deployment(f"{flow.name}/{spec['name']}")
        sqlite_stack.api("DELETE", f"/deployments/{deployment['id']}")

    sqlite_stack.execute(command)
    serve = sqlite_stack.service("serve")
    assert sqlite_stack.deployment(REPORT)["work_pool_name"] is None
    # The same triggers, and none left pointing at the deleted deployments (serve removed them).
    assert sqlite_stack.deployment_triggers() == deployed
    assert "removed the trigger 'segments-export on botpenguin.segment changes'" in serve.output()
    run = sqlite_stack.run_deployment(REPORT, {"account": "e2e-served"})
    assert run["id"] in serve.output(), "the serve process ran it"
    assert sqlite_stack.latest_rows("botpenguin-segments-e2e-served") == expected_rows(
        SAMPLE_SEGMENTS
    )

    serve.stop()
    assert sqlite_stack.deployment(REPORT)["paused"], "stopping serve pauses the schedules"
