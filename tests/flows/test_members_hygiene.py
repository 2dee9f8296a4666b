"""Contacts stay in the export file: never in logs, exceptions, artifacts, events, run
parameters or results -- on success and on failure, at DEBUG log level.

The needles are every invented contact's name, email and phone number. The members flow and
``botpenguin members`` run in-process against the sandbox; what Prefect stored about the runs
is read back through its API (flow and task runs with parameters and states, logs,
artifacts, events).
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prefect_readback import everything_prefect_returns

from prefect_botpenguin.core.errors import BotPenguinError
from prefect_botpenguin.flows.cli import main
from prefect_botpenguin.flows.members import segments_members_export
from prefect_botpenguin.members import export_segment_members
from prefect_botpenguin.sandbox import SAMPLE_CONTACTS, Fault, SandboxServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

NEEDLES = sorted(
    {str(c[key]) for c in SAMPLE_CONTACTS for key in ("name", "email", "phone") if key in c}
)
FAST = {"BOTPENGUIN_MAX_ATTEMPTS": "2", "BOTPENGUIN_BACKOFF_BASE": "0"}


def assert_no_contacts(where: str, text: str) -> None:
    found = [needle for needle in NEEDLES if needle in text]
    assert not found, f"contact data leaked into {where}: {len(found)} value(s)"


def exception_text(exc: BaseException) -> str:
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


@pytest.fixture
def members_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    monkeypatch.setattr(
        "prefect_botpenguin.flows.members.export_segment_members",
        export_segment_members.with_options(retry_delay_seconds=0),
    )
    with SandboxServer(member_page_size=3) as sandbox:
        monkeypatch.setenv("BOTPENGUIN_BASE_URL", sandbox.url)
        monkeypatch.setenv("BOTPENGUIN_API_TOKEN", sandbox.token)
        monkeypatch.setenv("BOTPENGUIN_ACCOUNT", "hygiene")
        for name, value in FAST.items():
            monkeypatch.setenv(name, value)
        yield sandbox


def assert_logs_clean(caplog: pytest.LogCaptureFixture) -> None:
    names = {record.name.split(".")[0] for record in caplog.records}
    assert {"prefect", "httpcore"} <= names, f"DEBUG logging was not captured: {names}"
    assert_no_contacts("log records", caplog.text)
    for record in caplog.records:
        assert_no_contacts(f"a log record of {record.name}", record.getMessage())


NO_ID = {k: v for k, v in SAMPLE_CONTACTS[0].items() if k != "_id"}
FAILURES = {
    "a page failing after its retries": [Fault(), Fault(), *[Fault.status_code(503)] * 20],
    "a contact without an id": [
        Fault(),
        Fault(body={"success": True, "message": "", "data": [NO_ID], "code": 200}),
    ],
}


async def test_the_members_flow_keeps_contacts_in_the_file_only(
    members_sandbox: SandboxServer, debug_logs: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    since = datetime.now(UTC)

    done = await segments_members_export(destination=str(tmp_path / "ok.parquet"))
    errors = []
    for faults in FAILURES.values():
        members_sandbox.reset()
        members_sandbox.inject(*faults)
        with pytest.raises(BotPenguinError) as caught:
            await segments_members_export(destination=str(tmp_path / "failing.jsonl"))
        errors.append(caught.value)

    assert done.count > 0
    assert_no_contacts("the flow's result", done.model_dump_json())
    for error in errors:
        assert_no_contacts("an exception", exception_text(error))
    assert_logs_clean(debug_logs)
    stored, runs = await everything_prefect_returns(since)
    assert runs == 3
    assert "Finished in state" in stored, "the runs' logs were read back"
    assert "botpenguin-members-export-hygiene" in stored, "the artifact was read back"
    assert_no_contacts("what the Prefect API returns", stored)
    assert not (tmp_path / "failing.jsonl").exists()


def test_botpenguin_members_keeps_contacts_in_the_file_only(
    members_sandbox: SandboxServer,
    debug_logs: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    since = datetime.now(UTC)

    assert main(["members", "--to", str(tmp_path / "cli.csv"), "--fields", "name", "phone"]) == 0
    for faults in FAILURES.values():
        members_sandbox.reset()
        members_sandbox.inject(*faults)
        assert main(["members", "--to", str(tmp_path / "failing.csv")]) == 1
    members_sandbox.reset()
    members_sandbox.inject(*FAILURES["a contact without an id"])
    with pytest.raises(BotPenguinError) as caught:
        main(["members", "--to", str(tmp_path / "failing.csv"), "--debug"])

    assert_no_contacts("an exception with its traceback", exception_text(caught.value))
    printed = capsys.readouterr()
    assert_no_contacts("the command's output", printed.out + printed.err)
    assert "error: " in printed.err
    assert_logs_clean(debug_logs)
    stored, runs = asyncio.run(everything_prefect_returns(since))
    assert runs == 4
    assert_no_contacts("what the Prefect API returns", stored)
    assert SAMPLE_CONTACTS[0]["name"] in (tmp_path / "cli.csv").read_text(encoding="utf-8")
