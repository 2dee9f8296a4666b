"""The export flow, its link artifact and ``botpenguin export``, under real Prefect servers."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from prefect.filesystems import LocalFileSystem
from prefect_readback import latest_artifact

from prefect_botpenguin.core.errors import ConfigurationError, ExportError, ResponseError
from prefect_botpenguin.core.formats import serialise
from prefect_botpenguin.core.models import parse_segments
from prefect_botpenguin.flows.cli import main
from prefect_botpenguin.flows.export import segments_export
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS, Fault, SandboxServer

BOTPENGUIN = str(Path(sys.executable).with_name("botpenguin"))
"""The console script ``pip install`` puts beside the interpreter."""

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_IDS = [raw["_id"] for raw in SAMPLE_SEGMENTS]
PREVIOUS = b"id,name\r\nprevious,export\r\n"
CLI_TIMEOUT = 180


def complete_export(fmt: str) -> bytes:
    """The bytes an export of the whole sample must have (the serialisers' own tests prove
    those bytes hold every field); comparing files to it shows nothing was lost on the way."""
    return serialise(parse_segments(SAMPLE_SEGMENTS), fmt)  # type: ignore[arg-type]


def assert_complete(path: Path, fmt: str) -> None:
    if fmt == "parquet":
        table = pq.read_table(path)
        assert table.equals(pq.read_table(io.BytesIO(complete_export(fmt))), check_metadata=True)
        assert table.column("id").to_pylist() == SAMPLE_IDS
    else:
        assert path.read_bytes() == complete_export(fmt)


# -- flow and artifact (in process, on the session's test server) -----------------------------


@pytest.mark.usefixtures("prefect_harness")
async def test_flow_exports_and_links_the_file_in_an_artifact(
    sandbox_env: SandboxServer, tmp_path: Path
) -> None:
    target = tmp_path / "segments.csv"

    result = await segments_export(destination=str(target), account="Larkspur Tea Co.")

    assert (result.count, result.format, result.destination) == (6, "csv", str(target))
    assert_complete(target, "csv")
    latest = await latest_artifact("botpenguin-export-larkspur-tea-co")
    assert latest.type == "markdown"  # how Prefect stores a link artifact
    assert target.as_uri() in str(latest.data)
    assert latest.description is not None
    assert "6 segment(s) as CSV" in latest.description


@pytest.mark.usefixtures("prefect_harness")
async def test_flow_writes_into_a_saved_filesystem_block(
    sandbox_env: SandboxServer, tmp_path: Path
) -> None:
    await LocalFileSystem(basepath=str(tmp_path)).save("export-tests", overwrite=True)

    result = await segments_export(
        destination="nightly/segments.jsonl", filesystem="local-file-system/export-tests"
    )

    assert result.destination == str(tmp_path / "nightly" / "segments.jsonl")
    assert_complete(tmp_path / "nightly" / "segments.jsonl", "jsonl")


@pytest.mark.usefixtures("prefect_harness")
async def test_unknown_filesystem_block_fails_before_fetching(sandbox_env: SandboxServer) -> None:
    with pytest.raises(ConfigurationError, match="No filesystem block 'local-file-system/nope'"):
        await segments_export(destination="x.csv", filesystem="local-file-system/nope")
    assert sandbox_env.request_count == 0


@pytest.mark.usefixtures("prefect_harness")
async def test_unknown_extension_fails_before_fetching(sandbox_env: SandboxServer) -> None:
    with pytest.raises(ExportError, match=r"'segments\.xlsx'"):
        await segments_export(destination="segments.xlsx")
    assert sandbox_env.request_count == 0


@pytest.mark.usefixtures("prefect_harness")
async def test_failed_fetch_writes_nothing(sandbox_env: SandboxServer, tmp_path: Path) -> None:
    target = tmp_path / "segments.json"
    target.write_bytes(PREVIOUS)
    sandbox_env.inject(Fault.malformed())

    with pytest.raises(ResponseError, match="not JSON"):
        await segments_export(destination=str(target))

    assert target.read_bytes() == PREVIOUS
    assert sorted(os.listdir(tmp_path)) == ["segments.json"]


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("fmt", ["json", "jsonl", "parquet"])
def test_cli_export_in_process_writes_complete_data(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BOTPENGUIN_ACCOUNT", raising=False)
    target = tmp_path / "out" / f"segments.{fmt}"

    assert main(["export", "--to", str(target), "--sandbox"]) == 0

    assert_complete(target, fmt)
    out = capsys.readouterr().out
    assert f"Wrote 6 segment(s) of SAMPLE DATA from the sandbox as {fmt.upper()} to {target}" in out


def test_cli_rejects_an_unknown_extension_without_starting_prefect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "--to", str(tmp_path / "segments.txt"), "--sandbox"]) == 1

    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        "error: Cannot tell the export format of 'segments.txt' from its extension; end the "
        "name in .csv, .json, .jsonl or .parquet, or give the format explicitly."
    ]
    assert os.listdir(tmp_path) == []


# -- the acceptance commands, as a user runs them (two subprocesses, started together) -------


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    target: Path


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory, prefect_api_url: str) -> dict[str, CliRun]:
    """``export --sandbox`` and ``export`` against a server sending a broken body, in parallel.

    The sandbox export runs as a first-time user's does: no ``PREFECT_API_URL``, so it starts
    its own ephemeral Prefect server (~20 s). The broken one runs as a user with a server
    configured (the session's test server): a second ephemeral server would cost as much CPU
    and test nothing new. Each has its own Prefect home.
    """
    root = tmp_path_factory.mktemp("cli")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOTPENGUIN_", "PREFECT_API_", "PREFECT_HOME", "PREFECT_PROFILE"))
    }
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    # Two servers starting at once on a small CI machine can outlast the 20 s default.
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
    broken_target = root / "broken" / "segments.csv"
    broken_target.parent.mkdir()
    broken_target.write_bytes(PREVIOUS)
    with SandboxServer() as broken:
        broken.inject(*[Fault.malformed()] * 5)  # however often it asks, the body is broken
        plans = {
            "sandbox": (root / "good" / "segments.csv", ["--sandbox"], {}),
            "broken": (
                broken_target,
                [],
                {
                    "BOTPENGUIN_BASE_URL": broken.url,
                    "BOTPENGUIN_API_TOKEN": broken.token,
                    "PREFECT_API_URL": prefect_api_url,
                },
            ),
        }
        started = {}
        for name, (target, flags, extra_env) in plans.items():
            home = root / f"home-{name}"
            home.mkdir()
            stdout, stderr = (root / f"{name}.out").open("w"), (root / f"{name}.err").open("w")
            process = subprocess.Popen(
                [BOTPENGUIN, "export", "--to", str(target), *flags],
                cwd=PROJECT_ROOT,
                env={**env, **extra_env, "PREFECT_HOME": str(home)},
                stdout=stdout,
                stderr=stderr,
            )
            started[name] = (process, target, stdout, stderr)
        runs = {}
        for name, (process, target, stdout, stderr) in started.items():
            try:
                returncode = process.wait(timeout=CLI_TIMEOUT)
            finally:
                process.kill()
                stdout.close()
                stderr.close()
            runs[name] = CliRun(
                returncode,
                (root / f"{name}.out").read_text(encoding="utf-8"),
                (root / f"{name}.err").read_text(encoding="utf-8"),
                target,
            )
    return runs


@pytest.mark.e2e  # cli_runs: two console-script processes, one on its own ephemeral server
def test_cli_export_with_sandbox_writes_the_complete_csv(cli_runs: dict[str, CliRun]) -> None:
    run = cli_runs["sandbox"]
    assert run.returncode == 0, run.stderr
    assert_complete(run.target, "csv")
    with open(run.target, encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["id"] for row in rows] == SAMPLE_IDS
    assert rows[-1]["archivedReason"] == SAMPLE_SEGMENTS[-1]["archivedReason"]
    assert json.loads(rows[0]["stats"]) == SAMPLE_SEGMENTS[0]["stats"]
    assert "SAMPLE DATA" in run.stdout
    assert (
        f"Wrote 6 segment(s) of SAMPLE DATA from the sandbox as CSV to {run.target}" in run.stdout
    )
    assert sorted(os.listdir(run.target.parent)) == ["segments.csv"]


@pytest.mark.e2e
def test_cli_export_of_a_broken_body_fails_in_one_line_and_keeps_the_file(
    cli_runs: dict[str, CliRun],
) -> None:
    run = cli_runs["broken"]
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, run.stderr
    assert "not JSON" in errors[0]
    assert "BOTPENGUIN_BASE_URL" in errors[0], "the message says what to check"
    assert "Traceback" not in run.stderr
    assert "Wrote" not in run.stdout
    assert run.target.read_bytes() == PREVIOUS
    assert sorted(os.listdir(run.target.parent)) == ["segments.csv"]
