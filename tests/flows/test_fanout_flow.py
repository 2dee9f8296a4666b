"""The fan-out flow, its artifacts, exports and ``botpenguin fanout``, on the test server."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect_readback import artifacts_of

from prefect_botpenguin.core.errors import ConfigurationError, FanoutFailedError
from prefect_botpenguin.core.fanout import SUMMARY_KEY
from prefect_botpenguin.credentials import BotPenguinCredentials
from prefect_botpenguin.fanout import PROGRESS_KEY, TABLE_KEY
from prefect_botpenguin.flows.cli import main
from prefect_botpenguin.flows.fanout import segments_fanout
from prefect_botpenguin.sandbox import SandboxServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture
def partner_env(partner_sandbox: Callable[[int, float], SandboxServer]) -> SandboxServer:
    """A sandbox partner with 5 accounts, its token in ``BOTPENGUIN_*`` as a worker would."""
    return partner_sandbox(5, 0.02)


async def test_flow_saves_artifacts_and_exports_then_fails_naming_the_bad_account(
    partner_env: SandboxServer, tmp_path: Path
) -> None:
    dead = partner_env.account_tokens[3]
    partner_env.revoke(dead)

    state = await segments_fanout(
        partner_from_env=True,
        concurrency=3,
        export=str(tmp_path / "{account}.csv"),
        return_state=True,
    )

    assert state.is_failed()
    with pytest.raises(FanoutFailedError) as caught:
        await state.result()
    [(label, error)] = caught.value.failures
    assert label == "Sample Customer 0004"
    assert "rejected the API token (HTTP 401" in error
    assert str(caught.value).startswith("1 of 5 BotPenguin account(s) failed")
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"sample-customer-000{n}.csv" for n in (1, 2, 3, 5)
    ]
    with open(tmp_path / "sample-customer-0002.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert {row["customer_id"] for row in rows} == {partner_env.customers[1]["_id"]}

    artifacts = await artifacts_of(state)
    assert artifacts[PROGRESS_KEY].data == 100.0
    table = artifacts[TABLE_KEY].data
    assert isinstance(table, str)  # Prefect stores table rows as JSON text
    assert table.count('"account": "Sample Customer 0001"') == 6
    assert "Sample Customer 0004" not in table
    summary = str(artifacts[SUMMARY_KEY].data)
    assert "| Sample Customer 0004 | BotPenguin rejected the API token" in summary
    everything = " ".join(f"{a.data} {a.description}" for a in artifacts.values())
    for token in [*partner_env.account_tokens, dead, partner_env.partner_token or "-"]:
        assert token not in everything
        assert token not in str(caught.value)


async def test_flow_collects_saved_blocks_into_one_export_with_an_account_column(
    tmp_path: Path,
) -> None:
    with SandboxServer.simulated(2) as sandbox:
        for number, token in enumerate(sandbox.account_tokens, start=1):
            block = BotPenguinCredentials(api_token=token, base_url=sandbox.url)
            await block.save(f"fanout-test-{number}", overwrite=True)
        target = tmp_path / "all.csv"

        state = await segments_fanout(
            credentials_blocks=["fanout-test-1", "fanout-test-2", "fanout-test-missing"],
            export=str(target),
            return_state=True,
        )

    with pytest.raises(FanoutFailedError) as caught:
        await state.result()
    [(label, error)] = caught.value.failures
    assert label == "fanout-test-missing"
    assert "No BotPenguin Credentials block named 'fanout-test-missing'" in error
    with open(target, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 12
    assert {row["account"] for row in rows} == {"fanout-test-1", "fanout-test-2"}
    assert list(rows[0])[:4] == ["id", "name", "customer_id", "account"]


async def test_prefect_global_concurrency_limit_bounds_requests_too(
    partner_env: SandboxServer,
) -> None:
    name = f"botpenguin-test-{uuid.uuid4().hex[:8]}"
    async with get_client() as client:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=2)
        )

    report = await segments_fanout(partner_from_env=True, concurrency=8, concurrency_limit=name)

    assert len(report.succeeded) == 5
    assert report.concurrency == 2
    assert partner_env.max_in_flight == 2
    async with get_client() as client:
        limit = await client.read_global_concurrency_limit_by_name(name)
    assert limit.active_slots == 0  # the reservation was given back


async def test_unknown_prefect_limit_fails_before_any_request(partner_env: SandboxServer) -> None:
    with pytest.raises(ConfigurationError, match="No Prefect global concurrency limit named"):
        await segments_fanout(partner_from_env=True, concurrency_limit="no-such-limit")
    assert partner_env.request_count == 0


def test_cli_fanout_in_sandbox_mode_prints_every_account(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BOTPENGUIN_ACCOUNT", raising=False)

    assert main(["fanout", "--sandbox", "--sandbox-accounts", "3", "--concurrency", "2"]) == 0

    out = capsys.readouterr().out
    assert "SAMPLE DATA" in out
    assert "Sample Customer 0003" in out
    assert "18 segment(s) from 3 account(s)" in out


def test_cli_fanout_without_accounts_says_what_to_give(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["fanout"]) == 1
    assert "Nothing to collect: name credentials_blocks" in capsys.readouterr().err


async def test_a_fanout_that_ends_before_its_progress_artifact_exists_still_ends_at_100() -> None:
    """No accounts: the fan-out ends while the artifact is still being created; the reporter
    must still write the final percentage (it once left such an artifact at 0)."""
    from prefect import flow

    from prefect_botpenguin.fanout import fetch_segments_fanout

    @flow
    async def nothing_to_collect() -> int:
        report = await fetch_segments_fanout.aio([])
        return len(report.outcomes)

    state = await nothing_to_collect(return_state=True)

    assert await state.result() == 0
    progress = (await artifacts_of(state))[PROGRESS_KEY]
    assert progress.data == 100.0
    assert progress.description == "0 of 0 BotPenguin account(s) collected."
