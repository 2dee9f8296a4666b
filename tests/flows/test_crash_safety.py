"""A run killed with SIGKILL in the middle of writing loses nothing.

A child process runs the ``segments_sync`` flow (export and watch on) over the files of an
earlier good run and is killed while its new export, or its new snapshot, exists only as a
temporary file. The kill lands there deterministically: the child wraps ``os.fsync`` (export)
or ``os.replace`` (snapshot) so that, at that point, it writes the temporary file's name to a
"ready" file and sleeps; the parent sees it and sends SIGKILL. Then: the previous files are
byte-identical, the leftover temporary file is hidden (``.NAME.tmp...``) so no listing or glob
of the data takes it for an export or a snapshot, and the next run succeeds, comparing against
the previous snapshot -- not the killed run's data in the temporary file.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.flows.sync import ExportStep, SyncResult, WatchStep, segments_sync
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS, SandboxServer
from prefect_botpenguin.watch_lock import watch_lock_name

# Child processes running the pack, killed mid-write: the e2e tier.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.e2e,
    pytest.mark.usefixtures("prefect_harness"),
]

TOKEN = "6a1c0ffee5a1e0000b0a7ec5"
ACCOUNT = "crash"
READY_TIMEOUT = 90.0  # the child imports Prefect first; slow on a busy 2-core machine

CHILD = r'''
"""Run segments_sync once; hang (to be SIGKILLed) at the chosen point of a write."""
import asyncio
import os
import sys
import time
from pathlib import Path

where, workdir, ready = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])


def hang(temp: str) -> None:
    ready.write_text(temp)
    time.sleep(600)


if where == "export":
    real_fsync = os.fsync

    def fsync(fd):  # the export's temp file is written, not yet flushed to disk nor renamed
        path = os.readlink(f"/proc/self/fd/{fd}")
        if Path(path).name.startswith(".segments.json.tmp"):
            hang(path)
        real_fsync(fd)

    os.fsync = fsync
else:
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):  # the snapshot's temp file is complete, not renamed
        if Path(dst).parent.name == "state":
            hang(os.fspath(src))
        real_replace(src, dst, *args, **kwargs)

    os.replace = replace

from prefect_botpenguin.flows.sync import ExportStep, WatchStep, segments_sync

asyncio.run(
    segments_sync(
        account="crash",
        publish_artifacts=False,
        export=ExportStep(enabled=True, destination=str(workdir / "export" / "segments.json")),
        watch=WatchStep(state=str(workdir / "state")),
    )
)
'''


async def sync(workdir: Path) -> SyncResult:
    return await segments_sync(
        account=ACCOUNT,
        publish_artifacts=False,
        export=ExportStep(enabled=True, destination=str(export_of(workdir))),
        watch=WatchStep(state=str(snapshot_of(workdir).parent)),
    )


def export_of(workdir: Path) -> Path:
    return workdir / "export" / "segments.json"


def snapshot_of(workdir: Path) -> Path:
    return workdir / "state" / f"{ACCOUNT}.json"


def records(data: list[dict[str, object]]) -> list[dict[str, object]]:
    return [Segment.model_validate(segment).to_record() for segment in data]


def visible(folder: Path) -> list[str]:
    """What a user's ``ls`` or a ``*.json`` glob sees: no hidden files."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def start_child(where: str, workdir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    script = workdir / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    with (workdir / "child.log").open("wb") as log:  # a file, so the child never blocks on it
        return subprocess.Popen(
            [sys.executable, str(script), where, str(workdir), str(workdir / "ready")],
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def kill_when_ready(child: subprocess.Popen[bytes], workdir: Path) -> Path:
    """Wait until the child holds a temp file mid-write, SIGKILL it; return the temp path."""
    ready = workdir / "ready"
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready.exists() or not ready.read_text():
            if child.poll() is not None:
                log = (workdir / "child.log").read_text(errors="replace")
                pytest.fail(f"the child ended before the write: {log[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"the child did not reach the write in {READY_TIMEOUT}s")
            time.sleep(0.05)
        temp = Path(ready.read_text())
        assert temp.exists(), "the kill must land while the temporary file exists"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    return temp


async def test_sigkill_mid_export_or_mid_snapshot_loses_nothing_and_the_next_run_succeeds(
    account: SandboxServer, tmp_path: Path, prefect_api_url: str
) -> None:
    # One child killed mid-export, one mid-snapshot, side by side (each first imports Prefect).
    workdirs = {where: tmp_path / where for where in ("export", "snapshot")}
    good: dict[str, tuple[bytes, bytes]] = {}
    for where, workdir in workdirs.items():
        await sync(workdir)  # the good run whose files must survive
        good[where] = (export_of(workdir).read_bytes(), snapshot_of(workdir).read_bytes())
    killed_data = copy.deepcopy(SAMPLE_SEGMENTS)
    killed_data[0]["segmentName"] = "Fetched by the killed run"
    account.set_segments(killed_data, token=TOKEN)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        "PREFECT_API_URL": prefect_api_url,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }

    children = {where: start_child(where, workdir, env) for where, workdir in workdirs.items()}
    temps = {where: kill_when_ready(children[where], workdirs[where]) for where in workdirs}

    for where, workdir in workdirs.items():
        export, snapshot, temp = export_of(workdir), snapshot_of(workdir), temps[where]
        good_export, good_snapshot = good[where]
        assert temp.parent == (export if where == "export" else snapshot).parent
        assert temp.name.startswith("."), "a leftover temporary file is hidden"
        assert "Fetched by the killed run" in temp.read_text(encoding="utf-8")
        assert visible(export.parent) == ["segments.json"]
        assert visible(snapshot.parent) == [f"{ACCOUNT}.history.json", f"{ACCOUNT}.json"]
        assert snapshot.read_bytes() == good_snapshot
        if where == "export":
            assert export.read_bytes() == good_export
        else:  # the export step had finished before the snapshot was written
            assert json.loads(export.read_bytes()) == records(killed_data)

    # The killed watch still holds the account's watch lock until its lease expires (about a
    # minute); free it as an operator would, by deleting the limit (the next watch recreates it).
    async with get_client() as client:
        await client.delete_global_concurrency_limit_by_name(watch_lock_name(ACCOUNT))

    # The next runs, on the first run's data: one that took the temporary file (the killed
    # run's data) for the snapshot would report the rename undone as a change.
    account.set_segments(SAMPLE_SEGMENTS, token=TOKEN)
    for where, workdir in workdirs.items():
        result = await sync(workdir)

        assert result.watch is not None
        assert not result.watch.baseline
        assert not result.watch.changed, f"{where}: compared against the temp file"
        assert json.loads(export_of(workdir).read_bytes()) == records(SAMPLE_SEGMENTS)
        saved = json.loads(snapshot_of(workdir).read_bytes())
        assert saved["segments"] == SAMPLE_SEGMENTS
        assert saved["fetched_at"] > json.loads(good[where][1])["fetched_at"]
