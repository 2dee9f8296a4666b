"""An untrusted snapshot is an error naming the file; reset-state rebuilds it (issue 12).

Each test runs ``segments_watch`` over real HTTP against the sandbox, on the session's Prefect
test server, with loopback webhook receivers; the state is a real snapshot file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from watch_readback import label, renamed_first, state_document

from prefect_botpenguin.core.errors import SnapshotError
from prefect_botpenguin.flows.cli import main
from prefect_botpenguin.flows.watch import segments_watch
from prefect_botpenguin.sandbox import SandboxServer
from prefect_botpenguin.snapshots import snapshot_location

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]
TOKEN = "6a1c0ffee5a1e0000b0a7e12"


def _truncate(document: bytes, name: str) -> bytes:
    return document[: len(document) // 2]


def _recount(document: bytes, name: str) -> bytes:
    data = json.loads(document)
    data["segments"] = data["segments"][:-1]
    return json.dumps(data).encode()


def _other_account(document: bytes, name: str) -> bytes:
    data = json.loads(document)
    data["account"] = name.upper()
    return json.dumps(data).encode()


def _newer(document: bytes, name: str) -> bytes:
    data = json.loads(document)
    data["version"] = 3
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (_truncate, "is truncated or corrupted"),
        (_recount, "is corrupted: it says 6 segments but holds 5"),
        (_other_account, "recorded for account 'LARKSPUR"),
        (_newer, "was written by a newer prefect-botpenguin"),
    ],
    ids=["truncated", "corrupted", "another account", "newer format"],
)
async def test_an_untrusted_snapshot_is_an_error_naming_the_file_and_reset_state_rebuilds_it(
    account: SandboxServer, tmp_path: Path, spoil: Any, problem: str
) -> None:
    name = label()
    await segments_watch(account=name, state=str(tmp_path))
    path = Path(snapshot_location(str(tmp_path), name))
    path.write_bytes(spoil(path.read_bytes(), name))
    spoiled = path.read_bytes()
    account.set_segments(renamed_first(), token=TOKEN)

    refused = await segments_watch(account=name, state=str(tmp_path), return_state=True)

    with pytest.raises(SnapshotError) as raised:
        await refused.result()
    assert problem in str(raised.value)
    assert str(path) in str(raised.value)
    assert "--reset-state" in str(raised.value)
    assert path.read_bytes() == spoiled, "the file is left for the user to inspect"

    rebuilt = await segments_watch(account=name, state=str(tmp_path), reset_state=True)
    assert rebuilt.baseline
    assert state_document(tmp_path, name)["segments"] == renamed_first()


def test_watch_command_refuses_a_corrupted_snapshot_until_reset_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = label()
    path = Path(snapshot_location(str(tmp_path), name))
    path.write_bytes(b'{"format": "prefect-botpenguin/segments-snapshot", "vers')
    argv = ["watch", "--sandbox", "--state", str(tmp_path), "--account", name]

    assert main(argv) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: Snapshot ")
    assert "--reset-state" in error
    assert len(error.strip().splitlines()) == 1

    assert main([*argv, "--reset-state"]) == 0
    assert "baseline recorded" in capsys.readouterr().out
