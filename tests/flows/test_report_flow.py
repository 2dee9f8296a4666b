"""The fetch task and the report flow under a real (temporary) Prefect server."""

from __future__ import annotations

import json

import pytest
from prefect_readback import latest_artifact, table_rows

from prefect_botpenguin.core.errors import AuthenticationError, ServerError
from prefect_botpenguin.credentials import BotPenguinCredentials
from prefect_botpenguin.flows.report import segments_report
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS, Fault, SandboxServer
from prefect_botpenguin.segments import fetch_segments

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


async def test_report_publishes_table_and_summary_keyed_per_account(
    sandbox_env: SandboxServer,
) -> None:
    segments = await segments_report(account="Larkspur Tea Co.")
    assert [s.id for s in segments] == [s["_id"] for s in SAMPLE_SEGMENTS]

    rows = table_rows(await latest_artifact("botpenguin-segments-larkspur-tea-co"))
    assert [row["id"] for row in rows] == [s["_id"] for s in SAMPLE_SEGMENTS]
    assert [row["name"] for row in rows] == [s["segmentName"] for s in SAMPLE_SEGMENTS]
    assert list(rows[0])[:2] == ["id", "name"]
    assert all(set(row) == set(rows[0]) for row in rows), "every row has every column"
    assert json.loads(rows[0]["filters"]) == SAMPLE_SEGMENTS[0]["filters"], "nested as JSON"
    assert rows[1]["stats"] is None

    summary = (await latest_artifact("botpenguin-segments-larkspur-tea-co-summary")).data
    assert isinstance(summary, str)
    assert "**6** segment(s)" in summary
    assert "| Clientes de São Paulo | 1,287 | `6a1c0ffee5a1e0000b0a7e02` |" in summary


async def test_report_uses_a_saved_credentials_block(sandbox: SandboxServer) -> None:
    await BotPenguinCredentials(api_token=sandbox.token, base_url=sandbox.url).save(
        "reseller-one", overwrite=True
    )
    segments = await segments_report(credentials="reseller-one")
    assert len(segments) == len(SAMPLE_SEGMENTS)
    rows = table_rows(await latest_artifact("botpenguin-segments-reseller-one"))
    assert len(rows) == len(SAMPLE_SEGMENTS)


async def test_unknown_credentials_block_is_a_clear_error() -> None:
    from prefect_botpenguin.core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="No BotPenguin Credentials block named 'nope'"):
        await segments_report(credentials="nope")


async def test_task_retries_a_whole_fetch_that_outlasts_the_client(
    sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOTPENGUIN_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("BOTPENGUIN_BACKOFF_BASE", "0")
    monkeypatch.setenv("BOTPENGUIN_BACKOFF_CAP", "0")
    sandbox_env.inject(Fault.status_code(503), Fault.status_code(503))
    fast = fetch_segments.with_options(retry_delay_seconds=0)
    segments = await fast()
    assert len(segments) == len(SAMPLE_SEGMENTS)
    assert sandbox_env.request_count == 3  # 2 by the client, then 1 by the task's retry


async def test_task_gives_up_after_its_retries(
    sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOTPENGUIN_MAX_ATTEMPTS", "1")
    sandbox_env.inject(*[Fault.status_code(500)] * 3)
    with pytest.raises(ServerError, match="HTTP 500"):
        await fetch_segments.with_options(retry_delay_seconds=0)()
    assert sandbox_env.request_count == 3  # 1 fetch + 2 task retries, 1 request each


async def test_auth_error_is_not_retried_by_the_task(
    sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOTPENGUIN_API_TOKEN", "not-a-valid-token")
    with pytest.raises(AuthenticationError, match="malformed"):
        await fetch_segments.with_options(retry_delay_seconds=0)()
    assert sandbox_env.request_count == 1


async def test_report_of_a_huge_account_returns_every_segment_but_tables_the_first_5000(
    sandbox_env: SandboxServer,
) -> None:
    sandbox_env.set_segments(
        [{"_id": f"{n:024x}", "segmentName": f"Segment {n}"} for n in range(5_001)],
        token=sandbox_env.token,
    )
    segments = await segments_report(account="Huge account")

    assert len(segments) == 5_001
    table = await latest_artifact("botpenguin-segments-huge-account")
    assert len(table_rows(table)) == 5_000
    assert "showing the first 5000 of 5001" in str(table.description)
