"""The API token never reaches a log line, an exception, an artifact or a flow run's record."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter

from flows.report import segments_report
from tasks.errors import BotPenguinError
from tasks.sandbox import SAMPLE_SEGMENTS, Fault, SandboxServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]
CANARY = "CANARY-7d1f-token-should-never-leak"


@pytest.fixture
def canary_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    with SandboxServer(accounts={CANARY: SAMPLE_SEGMENTS}) as server:
        monkeypatch.setenv("BOTPENGUIN_BASE_URL", server.url)
        monkeypatch.setenv("BOTPENGUIN_API_TOKEN", CANARY)
        monkeypatch.setenv("BOTPENGUIN_ACCOUNT", "canary")
        monkeypatch.setenv("BOTPENGUIN_BACKOFF_BASE", "0")
        monkeypatch.setenv("BOTPENGUIN_BACKOFF_CAP", "0")
        yield server


async def everything_prefect_recorded() -> str:
    """Artifacts, logs and flow run parameters as the Prefect API returns them."""
    async with get_client() as client:
        artifacts = await client.read_artifacts()
        logs = await client.read_logs(log_filter=LogFilter())
        runs = await client.read_flow_runs()
    texts = [repr(a.data) + repr(a.description) for a in artifacts]
    texts += [log.message for log in logs]
    texts += [repr(run.parameters) + repr(run.state) for run in runs]
    return "\n".join(texts)


async def test_token_stays_out_of_logs_and_artifacts_on_success(
    canary_sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        segments = await segments_report()
    assert len(segments) == len(SAMPLE_SEGMENTS)
    assert canary_sandbox.request_count == 1
    assert "httpx" in {r.name for r in caplog.records}, "httpx logging was captured"
    assert CANARY not in caplog.text
    recorded = await everything_prefect_recorded()
    assert "botpenguin-segments-canary" in recorded or "Clientes de" in recorded
    assert CANARY not in recorded


async def test_token_stays_out_of_errors_and_logs_on_failure(
    canary_sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    # An API that echoes the token back in its error message: the pack must redact it.
    echo = {"success": False, "message": f"unknown key {CANARY}", "data": [], "code": 404}
    canary_sandbox.inject(Fault(status=404, body=echo))
    with caplog.at_level(logging.DEBUG), pytest.raises(BotPenguinError) as caught:
        await segments_report()
    assert "unknown key **********" in str(caught.value)
    assert CANARY not in str(caught.value)
    assert CANARY not in repr(caught.value)
    assert CANARY not in caplog.text
    assert CANARY not in await everything_prefect_recorded()
