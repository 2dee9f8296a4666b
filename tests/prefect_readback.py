"""Reading back what flows recorded, through the Prefect API, for tests to assert on."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterStartTime,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import Artifact
from prefect.events.filters import EventFilter, EventOccurredFilter
from prefect.events.schemas.events import Event, ReceivedEvent
from prefect.logging.handlers import APILogHandler
from prefect.states import State


async def latest_artifact(key: str) -> Artifact:
    """The newest version of the artifact with ``key``; fails the test when there is none."""
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    assert artifacts, f"no artifact with key {key}"
    return max(artifacts, key=lambda artifact: artifact.created)  # type: ignore[arg-type, return-value]


async def artifacts_of(state: State[Any]) -> dict[str, Artifact]:
    """Every artifact the run behind ``state`` recorded, by key."""
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    return {artifact.key or "": artifact for artifact in found}


def table_rows(artifact: Artifact) -> list[dict[str, Any]]:
    """A table artifact's rows (Prefect stores them as JSON text)."""
    assert artifact.type == "table", artifact.type
    data = artifact.data
    rows = json.loads(data) if isinstance(data, str) else data
    assert isinstance(rows, list)
    return rows


async def read_all_events(client: Any, event_filter: EventFilter, limit: int = 50) -> list[Event]:
    """Every event the API returns for ``event_filter``, page by page.

    ``PrefectClient.read_events`` is new in Prefect 3.5; on older Prefects (the floor job) the
    same ``POST /events/filter`` route and its ``next_page`` links are called directly.
    """
    if hasattr(client, "read_events"):
        page = await client.read_events(event_filter, limit=limit)
        events = list(page.events)
        while page.next_page:
            page = await client.read_events_page(str(page.next_page))
            events += page.events
        return events
    body = {"filter": event_filter.model_dump(mode="json"), "limit": limit}
    response = await client.request("POST", "/events/filter", json=body)
    events = []
    while True:
        response.raise_for_status()
        answer = response.json()
        events += [ReceivedEvent.model_validate(event) for event in answer["events"]]
        if not answer.get("next_page"):
            return events
        response = await client._client.get(answer["next_page"])


async def everything_prefect_returns(since: datetime) -> tuple[str, int]:
    """All the API says about runs started after ``since`` (runs with their parameters and states,
    task runs, artifacts, logs, events, blocks without secrets), as JSON text, and the run count.
    """
    await APILogHandler.aflush()  # the runs' logs reach the API in batches: send them all
    runs_filter = FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since))
    async with get_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=runs_filter, limit=200)
        ids = [run.id for run in runs]
        parts: list[Any] = [run.model_dump(mode="json") for run in runs]
        task_runs = await client.read_task_runs(flow_run_filter=runs_filter, limit=200)
        parts += [task_run.model_dump(mode="json") for task_run in task_runs]
        artifacts = await client.read_artifacts(flow_run_filter=runs_filter, limit=200)
        parts += [artifact.model_dump(mode="json") for artifact in artifacts]
        offset = 0
        while logs := await client.read_logs(
            LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)), limit=200, offset=offset
        ):
            parts += [log.model_dump(mode="json") for log in logs]
            offset += len(logs)
        events = await read_all_events(
            client,
            EventFilter(occurred=EventOccurredFilter(since=since - timedelta(minutes=1))),
            limit=50,
        )
        parts += [event.model_dump(mode="json") for event in events]
        # A block hands out its secret only to a caller who asks for it (include_secrets).
        blocks = await client.read_block_documents(include_secrets=False)
        parts += [block.model_dump(mode="json") for block in blocks]
    return json.dumps(parts, ensure_ascii=False, default=str), len(runs)
