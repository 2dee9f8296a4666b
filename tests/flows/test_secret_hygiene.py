"""The API token never leaks: not into a log, an exception, an artifact, an event, a file or
the Prefect database -- for every flow and every command, on success and on failure.

Every secret here (an account token, a partner token and the customer tokens the partner API
hands out) starts with ``MARK``; a leak of a secret, or of its first eight characters (as a
message cut at its length limit would leave), is a ``MARK`` found somewhere. Logging is at
DEBUG, httpx's and httpcore's included. Searched: captured stdout, stderr and log records;
exception text and tracebacks; everything the Prefect API returns about the runs (flow and
task runs with their parameters and states, logs, artifacts, events, and block documents
read without ``include_secrets``); every file the runs wrote; and the bytes of the Prefect
databases -- the session's test server's, and the one a command-line subprocess creates
under its own ``PREFECT_HOME``. Commands run in-process through ``botpenguin``'s ``main``,
except that one subprocess. ``repr()``/``str()`` of settings, block and client are checked in
``test_settings.py``, ``test_credentials.py`` and ``test_client.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL
from prefect_readback import everything_prefect_returns

from prefect_botpenguin.core.errors import BotPenguinError
from prefect_botpenguin.credentials import BotPenguinCredentials
from prefect_botpenguin.flows.cli import main
from prefect_botpenguin.flows.export import segments_export
from prefect_botpenguin.flows.fanout import segments_fanout
from prefect_botpenguin.flows.report import segments_report
from prefect_botpenguin.flows.sync import ExportStep, WatchStep, segments_sync
from prefect_botpenguin.flows.watch import segments_watch
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS, Fault, SandboxServer
from prefect_botpenguin.segments import fetch_segments

BOTPENGUIN = str(Path(sys.executable).with_name("botpenguin"))
"""The console script ``pip install`` puts beside the interpreter."""

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

MARK = "ZQX7cnry"
TOKEN = f"{MARK}-account-token-never-logged"
PARTNER_TOKEN = f"{MARK}-partner-token-never-logged"
CUSTOMER_TOKENS = [f"{MARK}-customer-token-{n}" for n in (1, 2)]
FAST = {
    "BOTPENGUIN_MAX_ATTEMPTS": "2",
    "BOTPENGUIN_BACKOFF_BASE": "0",
    "BOTPENGUIN_BACKOFF_CAP": "0",
    "BOTPENGUIN_CONNECT_TIMEOUT": "0.5",
}


def echo(status: int, prefix: str = "") -> Fault:
    """An error that echoes the token back, as a careless API or proxy might."""
    body = {"success": False, "message": f"{prefix}unknown key {TOKEN}", "data": [], "code": status}
    return Fault(status=status, body=body)


# Long enough that the one-line limit (200 characters) cuts the message inside the token,
# leaving its first 14 characters: redacting after cutting would let them through.
STRADDLE = "x" * 170 + " "
STRADDLING_ECHO = echo(404, prefix=STRADDLE)


def assert_clean(where: str, content: str | bytes) -> None:
    needle: str | bytes = MARK.encode() if isinstance(content, bytes) else MARK
    assert needle not in content, f"a secret leaked into {where}"


def assert_files_clean(root: Path) -> int:
    """Search every file under ``root``; return how many there were."""
    files = [p for p in root.rglob("*") if p.is_file()]
    for path in files:
        assert_clean(str(path), path.read_bytes())
    return len(files)


def exception_text(exc: BaseException) -> str:
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


def prefect_database_dir() -> Path:
    url = str(PREFECT_SERVER_DATABASE_CONNECTION_URL.value())
    return Path(url.split(":///", 1)[1]).parent


def assert_logs_clean(caplog: pytest.LogCaptureFixture) -> None:
    names = {record.name.split(".")[0] for record in caplog.records}
    assert {"prefect", "httpcore"} <= names, f"DEBUG logging was not captured: {names}"
    assert_clean("log records", caplog.text)
    for record in caplog.records:
        assert_clean(f"log record of {record.name}", record.getMessage())


@pytest.fixture
def partner(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    """One account (``TOKEN``) and a partner whose two customers have tokens of their own.

    Settings come from ``BOTPENGUIN_*``, with short retries; the fetch task keeps its retries
    but not their 10 s and 30 s pauses.
    """
    for module in ("report", "export", "watch", "sync"):
        monkeypatch.setattr(
            f"prefect_botpenguin.flows.{module}.fetch_segments",
            fetch_segments.with_options(retry_delay_seconds=0),
        )
    customers = {
        token: {"_id": f"5a4d{n:020x}", "name": f"Canary customer {n}"}
        for n, token in enumerate(CUSTOMER_TOKENS, start=1)
    }
    accounts = {TOKEN: SAMPLE_SEGMENTS, **dict.fromkeys(CUSTOMER_TOKENS, SAMPLE_SEGMENTS[:2])}
    with SandboxServer(accounts=accounts, partner_token=PARTNER_TOKEN, customers=customers) as s:
        monkeypatch.setenv("BOTPENGUIN_BASE_URL", s.url)
        monkeypatch.setenv("BOTPENGUIN_API_TOKEN", TOKEN)
        monkeypatch.setenv("BOTPENGUIN_ACCOUNT", "canary")
        for name, value in FAST.items():
            monkeypatch.setenv(name, value)
        yield s


async def test_flows_that_succeed_leak_nothing(
    partner: SandboxServer,
    debug_logs: pytest.LogCaptureFixture,
    receiver: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    since = datetime.now(UTC)
    await BotPenguinCredentials(api_token=TOKEN, base_url=partner.url).save(
        "canary-account", overwrite=True
    )
    notify = [receiver.url(scheme="json")]

    await segments_report()
    await segments_export(destination=str(tmp_path / "export.parquet"))
    await segments_watch(state=str(tmp_path / "state"), notify=notify, always_notify=True)
    renamed = [{**SAMPLE_SEGMENTS[0], "segmentName": "Renamed"}, *SAMPLE_SEGMENTS[1:]]
    partner.set_segments(renamed, token=TOKEN)  # losing most segments would be held instead
    watched = await segments_watch(state=str(tmp_path / "state"), notify=notify)
    await segments_sync(
        credentials="canary-account",
        export=ExportStep(enabled=True, destination=str(tmp_path / "sync.csv")),
        watch=WatchStep(state=str(tmp_path / "sync-state"), notify=notify, always_notify=True),
    )
    monkeypatch.setenv("BOTPENGUIN_API_TOKEN", PARTNER_TOKEN)
    summary = await segments_fanout(
        partner_from_env=True, export=str(tmp_path / "fanout" / "{account}.jsonl")
    )

    assert watched.changed, "the change was emitted as events"
    assert watched.event_ids
    assert len(summary.succeeded) == len(CUSTOMER_TOKENS)
    assert not summary.failed
    assert_logs_clean(debug_logs)
    assert len(receiver.requests) == 3
    for message in receiver.requests:
        assert_clean("a notification", message.body)
    recorded, runs = await everything_prefect_returns(since)
    assert runs == 6
    assert "Renamed" in recorded, "events and artifacts were read back"
    assert "Finished in state Completed()" in recorded, "the runs' logs were read back"
    assert_clean("what the Prefect API returns", recorded)
    assert assert_files_clean(tmp_path) >= 6
    assert_files_clean(prefect_database_dir())


async def test_flows_that_fail_leak_nothing(
    partner: SandboxServer,
    debug_logs: pytest.LogCaptureFixture,
    receiver: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    since = datetime.now(UTC)
    failures: list[BaseException] = []

    async def failing(flow: Any, **parameters: Any) -> None:
        state = await flow(**parameters, return_state=True)
        assert state.is_failed()
        with pytest.raises(BotPenguinError) as caught:
            await state.result()
        failures.append(caught.value)

    partner.inject(echo(404))
    await failing(segments_report)
    partner.inject(STRADDLING_ECHO)
    await failing(segments_export, destination=str(tmp_path / "never.csv"))
    partner.inject(*[echo(503)] * 6)  # 3 fetches of 2 attempts each
    await failing(segments_watch, state=str(tmp_path / "state"))
    receiver.status = 500
    (tmp_path / "file").write_text("a file where a folder should be")
    await failing(
        segments_sync,
        watch=WatchStep(
            state=str(tmp_path / "state"), notify=[receiver.url(scheme="json")], always_notify=True
        ),
        export=ExportStep(enabled=True, destination=str(tmp_path / "file" / "x.csv")),
    )
    partner.revoke(CUSTOMER_TOKENS[0])
    monkeypatch.setenv("BOTPENGUIN_API_TOKEN", PARTNER_TOKEN)
    await failing(segments_fanout, partner_from_env=True)
    monkeypatch.setenv("BOTPENGUIN_BASE_URL", "http://127.0.0.1:9")
    await failing(segments_report)

    assert [type(f).__name__ for f in failures] == [
        "RequestRejectedError",
        "RequestRejectedError",
        "ServerError",
        "SyncStepsFailedError",
        "FanoutFailedError",
        "APIConnectionError",
    ]
    assert "unknown key **********" in str(failures[0])
    for failure in failures:
        assert_clean(f"a {type(failure).__name__}", exception_text(failure))
    assert_logs_clean(debug_logs)
    recorded, runs = await everything_prefect_returns(since)
    assert runs == 6
    assert "unknown key **********" in recorded, "failed states were read back"
    assert "Finished in state Failed" in recorded, "the runs' logs were read back"
    assert_clean("what the Prefect API returns", recorded)
    assert_files_clean(tmp_path)
    assert_files_clean(prefect_database_dir())


def test_commands_in_process_leak_nothing(
    partner: SandboxServer,
    debug_logs: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    BotPenguinCredentials(api_token=PARTNER_TOKEN, base_url=partner.url).save(
        "canary-partner", overwrite=True
    )
    monkeypatch.chdir(tmp_path)
    assert main(["report"]) == 0
    assert main(["export", "--to", "out/segments.jsonl"]) == 0
    assert main(["watch", "--state", "state"]) == 0
    assert main(["sync", "--state", "state", "--export", "out/sync.csv"]) == 0
    fanout = ["fanout", "--partner-credentials", "canary-partner", "--export", "out/all.csv"]
    assert main(fanout) == 0
    partner.inject(echo(401), STRADDLING_ECHO)
    assert main(["report"]) == 1
    assert main(["watch", "--state", "state"]) == 1
    partner.inject(echo(401))
    assert main(["sync", "--state", "state"]) == 1
    partner.revoke(CUSTOMER_TOKENS[1])
    assert main(fanout) == 1
    partner.inject(STRADDLING_ECHO)
    with pytest.raises(BotPenguinError) as caught:
        main(["report", "--debug"])  # --debug lets the exception, traceback and all, out

    out, err = capsys.readouterr()
    assert "Clientes de São Paulo" in out
    assert err.count("error:") == 4
    assert_clean("stdout", out)
    assert_clean("stderr", err)
    assert_clean("the --debug exception", exception_text(caught.value))
    assert_logs_clean(debug_logs)
    assert assert_files_clean(tmp_path) >= 3


@dataclass
class Command:
    """A command-line run in a subprocess: its process, folder, output files and sandbox."""

    process: subprocess.Popen[bytes]
    workdir: Path
    sandbox: SandboxServer

    @property
    def home(self) -> Path:
        return self.workdir / "prefect-home"

    def output(self, name: str) -> str:
        return (self.workdir / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def command_in_background(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Command]:
    """``botpenguin watch`` as a user runs it: logging at DEBUG, its own Prefect home.

    With no ``PREFECT_API_URL`` it starts a temporary server, whose database lands in that
    home (~20 s to create). Only the e2e test below asks for it, so the unit tier
    (``-m "not e2e"``) starts no second interpreter. The first answer is a 503 echoing the
    token, so a retry is logged.
    """
    workdir = tmp_path_factory.mktemp("command")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTPENGUIN_", "PREFECT_"))}
    with SandboxServer(accounts={TOKEN: SAMPLE_SEGMENTS}) as sandbox:
        sandbox.inject(echo(503, prefix=STRADDLE))
        env.update(
            FAST,
            BOTPENGUIN_BASE_URL=sandbox.url,
            BOTPENGUIN_API_TOKEN=TOKEN,
            PREFECT_HOME=str(workdir / "prefect-home"),
            PREFECT_LOGGING_LEVEL="DEBUG",
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            COLUMNS="120",
        )
        with (workdir / "stdout").open("wb") as out, (workdir / "stderr").open("wb") as err:
            process = subprocess.Popen(
                [BOTPENGUIN, "watch", "--state", "state"],
                stdout=out,
                stderr=err,
                env=env,
                cwd=workdir,
            )
        try:
            yield Command(process, workdir, sandbox)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


@pytest.mark.e2e  # the console script in a second interpreter, on its own ephemeral server
def test_a_command_leaves_no_secret_in_its_output_prefect_home_or_database(
    command_in_background: Command,
) -> None:
    command = command_in_background
    returncode = command.process.wait(timeout=240)
    stdout, stderr = command.output("stdout"), command.output("stderr")

    assert returncode == 0, stderr[-2000:]
    assert "baseline recorded" in stdout
    assert command.sandbox.request_count == 2
    assert "HTTP 503; retry 1 of 1" in stderr
    assert "| DEBUG   |" in stderr, "Prefect logged at DEBUG"
    assert (command.home / "prefect.db").exists(), "a temporary server kept its database here"
    assert_clean("stdout", stdout)
    assert_clean("stderr", stderr)
    assert assert_files_clean(command.workdir) >= 4
