"""Sharded fan-outs in-process: the shard flow as subflows, on the sandbox partner."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)
from prefect.filesystems import LocalFileSystem
from prefect_readback import artifacts_of

from prefect_botpenguin.core.atomic import temp_name
from prefect_botpenguin.core.errors import BotPenguinError, FanoutFailedError
from prefect_botpenguin.core.fanout import SUMMARY_KEY
from prefect_botpenguin.core.shards import Manifest
from prefect_botpenguin.fanout import PROGRESS_KEY
from prefect_botpenguin.flows.cli import main
from prefect_botpenguin.flows.fanout import segments_fanout
from prefect_botpenguin.flows.fanout_members import members_fanout
from prefect_botpenguin.flows.shard import fanout_shard
from prefect_botpenguin.sandbox import SandboxServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture
def partner_env(partner_sandbox: Callable[[int, float], SandboxServer]) -> SandboxServer:
    """A sandbox partner with 7 accounts, its token in ``BOTPENGUIN_*`` as a worker would."""
    return partner_sandbox(7, 0.005)


def read_rows(folder: Path) -> dict[str, list[dict[str, str]]]:
    rows = {}
    for path in sorted(folder.glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as file:
            rows[path.name] = list(csv.DictReader(file))
    return rows


async def run_shard(
    root: str, customer_ids: list[str], *, shard: int = 0, shards: int = 1, **extra: Any
) -> None:
    """One run of the shard flow for a sandbox partner's customers, writing under ``root``
    (run key ``k``, its report where a parent would ask for it)."""
    await fanout_shard(
        what=extra.pop("what", "segments"),
        shard=shard,
        shards=shards,
        run_key="k",
        export=extra.pop("export", f"{root}/{{account}}.csv"),
        report_path=f"{root}/_shards/k/shard-{shard}.json",
        partner_from_env=True,
        customer_ids=customer_ids,
        **extra,
    )


async def test_three_shards_write_the_same_files_as_one_flow_and_a_manifest(
    partner_env: SandboxServer, tmp_path: Path
) -> None:
    one, three = tmp_path / "one", tmp_path / "three"

    single = await segments_fanout(partner_from_env=True, export=str(one / "{account}.csv"))
    state = await segments_fanout(
        partner_from_env=True, shards=3, export=str(three / "{account}.csv"), return_state=True
    )
    sharded = await state.result()

    assert read_rows(three) == read_rows(one)
    assert len(read_rows(three)) == 7
    assert [a.label for a in sharded.accounts] == [a.label for a in single.accounts]
    assert sharded.segment_count == single.segment_count
    manifest = Manifest.model_validate_json((three / "_manifest.json").read_text())
    assert sorted(e.label for e in manifest.accounts) == sorted(a.label for a in single.accounts)
    assert {e.shard for e in manifest.accounts} == {0, 1, 2}
    assert sorted(f for e in manifest.accounts for f in e.files) == sorted(
        str(p) for p in three.glob("*.csv")
    )
    assert str(manifest.run_key) == str(state.state_details.flow_run_id)
    artifacts = await artifacts_of(state)
    assert artifacts[PROGRESS_KEY].data == 100.0
    assert artifacts[PROGRESS_KEY].description == "3 of 3 shard(s) ended (7 account(s))."
    assert "7 of 7 account(s)" in str(artifacts[SUMMARY_KEY].data)
    async with get_client() as client:
        progress = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
                key=ArtifactFilterKey(any_=[PROGRESS_KEY]),
            )
        )
    assert len(progress) == 1, "one progress artifact across shards, not one per shard"


async def test_a_broken_account_fails_only_itself_and_no_token_is_anywhere(
    partner_env: SandboxServer, tmp_path: Path
) -> None:
    dead = partner_env.account_tokens[4]
    partner_env.revoke(dead)

    state = await segments_fanout(
        partner_from_env=True,
        shards=2,
        concurrency=2,
        export=str(tmp_path / "{shard}" / "{account}.csv"),
        return_state=True,
    )

    with pytest.raises(FanoutFailedError) as caught:
        await state.result()
    [(label, error)] = caught.value.failures
    assert label == "Sample Customer 0005"
    assert "rejected the API token (HTTP 401" in error
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.csv")) == [
        "0/sample-customer-0001.csv",
        "0/sample-customer-0002.csv",
        "0/sample-customer-0003.csv",
        "0/sample-customer-0004.csv",
        "1/sample-customer-0006.csv",
        "1/sample-customer-0007.csv",
    ]
    manifest = json.loads((tmp_path / "_manifest.json").read_text())
    assert [e["label"] for e in manifest["accounts"] if e["error"]] == ["Sample Customer 0005"]
    reports = [p.read_text() for p in (tmp_path / "_shards").rglob("*.json")]
    assert len(reports) == 2
    artifacts = await artifacts_of(state)
    everything = " ".join(
        [*(f"{a.data} {a.description}" for a in artifacts.values()), *reports, str(manifest)]
    )
    async with get_client() as client:
        runs = await client.read_flow_runs()
    everything += " ".join(str(run.parameters) for run in runs)
    for token in [*partner_env.account_tokens, partner_env.partner_token or "-"]:
        assert token not in everything
        assert token not in str(caught.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"export": None}, "give an export destination with {account}"),
        ({"export": "out/all.csv"}, "give an export destination with {account}"),
        ({"export": "out/{account}.xlsx"}, "xlsx"),
        ({"concurrency_limit": "no-such-limit"}, "No Prefect global concurrency limit named"),
        ({"shard_deployment": "no-such-flow/x"}, "No deployment 'no-such-flow/x'"),
        ({"shard_deployment": "fanout-shard"}, "FLOW-NAME/DEPLOYMENT-NAME"),
        ({"shard_timeout": 0}, "shard_timeout must be positive"),
    ],
)
async def test_bad_shard_options_fail_in_one_line_before_any_request(
    partner_env: SandboxServer, tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    parameters: dict[str, Any] = {"export": str(tmp_path / "{account}.csv"), **options}
    with pytest.raises(BotPenguinError, match=message) as caught:
        await segments_fanout.fn(partner_from_env=True, shards=2, **parameters)
    assert "\n" not in str(caught.value)
    assert partner_env.request_count == 0
    assert list(tmp_path.iterdir()) == []


async def test_global_limit_bounds_requests_across_shards_and_is_given_back(
    partner_env: SandboxServer, tmp_path: Path
) -> None:
    name = f"botpenguin-shards-{uuid.uuid4().hex[:8]}"
    async with get_client() as client:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=3)
        )

    summary = await segments_fanout(
        partner_from_env=True,
        shards=3,
        concurrency=9,
        concurrency_limit=name,
        export=str(tmp_path / "{account}.json"),
    )

    assert len(summary.succeeded) == 7
    assert partner_env.max_in_flight <= 3  # 3 shards x 1 slot each (9 // 3 = 3, 3 // 3 = 1)
    async with get_client() as client:
        limit = await client.read_global_concurrency_limit_by_name(name)
    assert limit.active_slots == 0


async def test_members_fanout_writes_each_accounts_members_once_without_contacts_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with SandboxServer.simulated(4, segments_per_account=2, contacts_per_segment=30) as sandbox:
        monkeypatch.setenv("BOTPENGUIN_BASE_URL", sandbox.url)
        monkeypatch.setenv("BOTPENGUIN_API_TOKEN", sandbox.partner_token or "")
        state = await members_fanout(
            export=str(tmp_path / "{account}.csv"),
            partner_from_env=True,
            shards=2,
            fields=["name"],
            return_state=True,
        )
        manifest = await state.result()

    assert isinstance(manifest, Manifest)
    assert [e.member_count for e in manifest.accounts] == [60] * 4
    assert [e.shard for e in manifest.accounts] == [0, 0, 1, 1]
    files = read_rows(tmp_path)
    assert sorted(files) == [f"sample-customer-000{n}.csv" for n in range(1, 5)]
    assert all(len(rows) == 60 for rows in files.values())
    names = {row["name"] for rows in files.values() for row in rows}
    artifacts = await artifacts_of(state)
    shown = " ".join(f"{a.data} {a.description}" for a in artifacts.values())
    shown += (tmp_path / "_manifest.json").read_text()
    assert "members fan-out: 4 of 4 account(s)" in shown
    assert names
    assert not any(name in shown for name in names if name)


@pytest.mark.parametrize(
    ("what", "where"),
    [
        ("segments", "path"),
        ("segments", "fsspec URL"),
        ("segments", "block"),
        ("members", "path"),
        ("members", "fsspec URL"),
    ],
)
async def test_a_rerun_shard_sweeps_the_temp_files_its_killed_run_left_and_nothing_else(
    partner_env: SandboxServer, tmp_path: Path, what: str, where: str
) -> None:
    ids = [customer["_id"] for customer in partner_env.customers[:2]]
    suffix = "csv" if what == "segments" else "jsonl"
    files = [f"acct-{n}.{suffix}" for n in range(2)]
    killed = [temp_name(files[0]), temp_name(files[0]), temp_name(files[1])]
    kept = ["notes.txt", f".{files[0]}.tmp-notes", temp_name(f"acct-9.{suffix}")]
    for name in [*killed, *kept]:
        (tmp_path / name).write_bytes(b"partial")
    (tmp_path / "_shards" / "k").mkdir(parents=True)
    (tmp_path / "_shards" / "k" / temp_name("shard-0.json")).write_bytes(b"{")
    # A RemoteFileSystem block takes the fsspec URL's writer (its file:// is refused).
    places = {
        "path": (str(tmp_path), None),
        "fsspec URL": (tmp_path.as_uri(), None),
        "block": (".", LocalFileSystem(basepath=str(tmp_path))),
    }
    root, filesystem = places[where]

    await run_shard(
        root,
        ids,
        what=what,
        export=f"{root}/{{account}}.{suffix}",
        file_keys={f"customer:{cid}": f"acct-{n}" for n, cid in enumerate(ids)},
        export_filesystem=filesystem,
        attempt=2,
    )

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["_shards", *files, *kept])
    assert [p.name for p in (tmp_path / "_shards" / "k").iterdir()] == ["shard-0.attempt-2.json"]


async def test_a_first_shard_run_leaves_temp_files_alone_as_a_live_twin_may_be_writing(
    partner_env: SandboxServer, tmp_path: Path
) -> None:
    twin = tmp_path / temp_name("acct-0.csv")
    twin.write_bytes(b"being written")
    customer = partner_env.customers[0]["_id"]

    await run_shard(str(tmp_path), [customer], file_keys={f"customer:{customer}": "acct-0"})

    assert twin.read_bytes() == b"being written"
    assert (tmp_path / "acct-0.csv").exists()


async def test_a_shards_log_numbers_it_as_its_report_and_the_manifest_do_with_no_token(
    partner_env: SandboxServer, tmp_path: Path, debug_logs: pytest.LogCaptureFixture
) -> None:
    customer = partner_env.customers[0]["_id"]

    await run_shard(str(tmp_path), [customer], shard=1, shards=2)

    shard_lines = [r.getMessage() for r in debug_logs.records if r.getMessage().startswith("Shard")]
    assert len(shard_lines) == 2, shard_lines
    assert all(line.startswith("Shard 1 ") for line in shard_lines), shard_lines
    assert shard_lines[1].endswith("shard-1.json")
    for token in [*partner_env.account_tokens, partner_env.partner_token or "-"]:
        assert token not in debug_logs.text


def test_cli_fanout_with_shards_prints_every_account_and_writes_their_files(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("BOTPENGUIN_ACCOUNT", raising=False)
    export = str(tmp_path / "{account}.csv")

    assert main(["fanout", "--sandbox", "--sandbox-accounts", "3", "--shards", "2",
                 "--export", export]) == 0  # fmt: skip
    assert main(["fanout", "--sandbox", "--sandbox-accounts", "3", "--shards", "2",
                 "--members", "--export", str(tmp_path / "m" / "{account}.csv")]) == 0  # fmt: skip

    out = capsys.readouterr().out
    assert "18 segment(s) from 3 account(s)" in out
    assert "BotPenguin members fan-out (SAMPLE DATA)" in out
    assert "3 account(s) in 2 shard(s)" in out
    assert len(list(tmp_path.glob("*.csv"))) == 3
    assert len(list((tmp_path / "m").glob("*.csv"))) == 3


def test_cli_members_fanout_without_account_in_the_destination_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["fanout", "--sandbox", "--members", "--export", "all.csv"]) == 1
    assert "give an export destination with {account}" in capsys.readouterr().err
    assert main(["fanout", "--sandbox", "--members"]) == 1
    said = capsys.readouterr().err
    assert "give an export destination with {account}" in said
    assert "Traceback" not in said
    assert len(said.strip().splitlines()) == 1, said
