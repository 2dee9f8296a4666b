"""Reading back what flows recorded, through the Prefect API, for tests to assert on."""

from __future__ import annotations

import json
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.objects import Artifact


async def latest_artifact(key: str) -> Artifact:
    """The newest version of the artifact with ``key``; fails the test when there is none."""
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    assert artifacts, f"no artifact with key {key}"
    return max(artifacts, key=lambda artifact: artifact.created)  # type: ignore[arg-type, return-value]


def table_rows(artifact: Artifact) -> list[dict[str, Any]]:
    """A table artifact's rows (Prefect stores them as JSON text)."""
    assert artifact.type == "table", artifact.type
    data = artifact.data
    rows = json.loads(data) if isinstance(data, str) else data
    assert isinstance(rows, list)
    return rows
