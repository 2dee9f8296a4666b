"""One watch per account: two watches at once report a change once, or one is kept out (issue 12).

Each test runs ``segments_watch`` over real HTTP against the sandbox, on the session's Prefect
test server, with loopback webhook receivers; the state is a real snapshot file.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.concurrency.asyncio import concurrency
from watch_readback import events_of, label, renamed_first, state_document
from webhooks import Hooks

from prefect_botpenguin.core.errors import WatchLockError
from prefect_botpenguin.flows.watch import segments_watch
from prefect_botpenguin.sandbox import SandboxServer
from prefect_botpenguin.watch_lock import _ensure_limit, watch_lock_name

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]
TOKEN = "6a1c0ffee5a1e0000b0a7e12"


WATCHER = r"""
import asyncio, sys, time
from pathlib import Path

ready, go, state, name, hook = sys.argv[1:6]
from prefect_botpenguin.flows.watch import segments_watch

Path(ready).write_text("ready")
while not Path(go).exists():
    time.sleep(0.01)
result = asyncio.run(segments_watch(account=name, state=state, notify=[hook]))
print("RESULT", "changed" if result.changed else "stale" if result.stale else "quiet")
"""


def start_watcher(
    n: int, workdir: Path, name: str, hook: str, api_url: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """A watch of ``name`` in its own process (like a deployment and a terminal), held at a gate."""
    script = workdir / "watcher.py"
    script.write_text(WATCHER, encoding="utf-8")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        "PREFECT_API_URL": api_url,
        "PREFECT_HOME": str(workdir / f"home-{n}"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    ready = workdir / f"ready-{n}"
    argv = [str(ready), str(workdir / "go"), str(workdir / "state"), name, hook]
    log = workdir / f"watcher-{n}.log"
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, str(script), *argv], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return child, ready


@pytest.mark.e2e  # two OS processes running the pack: end-to-end by nature
async def test_two_watches_of_one_account_in_two_processes_report_a_change_once(
    account: SandboxServer, hooks: Hooks, tmp_path: Path, prefect_api_url: str
) -> None:
    name = label()
    state = tmp_path / "state"
    await segments_watch(account=name, state=str(state), notify=[hooks.url("/a")])
    account.set_segments(renamed_first(), token=TOKEN)
    account.set_latency(1.0)  # both fetches are in flight together
    watchers = [start_watcher(n, tmp_path, name, hooks.url("/a"), prefect_api_url) for n in (1, 2)]
    deadline = time.monotonic() + 120
    while not all(ready.exists() for _, ready in watchers):  # both imported Prefect
        assert time.monotonic() < deadline, "the watchers did not start"
        assert all(child.poll() is None for child, _ in watchers)
        await asyncio.sleep(0.05)

    (tmp_path / "go").write_text("go")
    codes = [await asyncio.to_thread(child.wait, 180) for child, _ in watchers]

    logs = [(tmp_path / f"watcher-{n}.log").read_text(errors="replace") for n in (1, 2)]
    assert codes == [0, 0], logs
    results = [line.split()[1] for log in logs for line in log.splitlines() if "RESULT" in line]
    outcomes = sorted(results)
    assert outcomes[0] == "changed"
    assert outcomes[1] in ("quiet", "stale")
    (message,) = hooks.accepted()
    assert "1 renamed" in message.body["title"]
    (event,) = await events_of(name)
    assert event.event == "botpenguin.segment.changed"
    assert state_document(state, name)["segments"] == renamed_first()


async def test_a_watch_that_cannot_get_the_account_lock_says_another_watch_is_running(
    account: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = label()
    monkeypatch.setenv("BOTPENGUIN_WATCH_LOCK_TIMEOUT", "3")  # a busy machine needs >1 s
    await _ensure_limit(watch_lock_name(name))

    async with concurrency(watch_lock_name(name), occupy=1, strict=True):
        blocked = await segments_watch(account=name, state=str(tmp_path), return_state=True)

    with pytest.raises(WatchLockError, match=rf"Another watch of account '{name}' is running"):
        await blocked.result()
    assert list(tmp_path.iterdir()) == [], "nothing saved"
    assert (await segments_watch(account=name, state=str(tmp_path))).baseline, "lock released"


async def test_a_watch_on_another_prefect_server_is_kept_out_by_the_local_state_lock(
    account: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A terminal run on its own temporary Prefect server shares no concurrency limit with a
    # deployment; the OS lock on the local state directory is what keeps them apart.
    import fcntl

    name = label()
    monkeypatch.setenv("BOTPENGUIN_WATCH_LOCK_TIMEOUT", "8")  # Prefect's slot service may be busy
    other = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)  # what the other watch holds while it runs
        blocked = await segments_watch(account=name, state=str(tmp_path), return_state=True)
    finally:
        os.close(other)  # closing releases it, as the OS does for a killed process

    with pytest.raises(WatchLockError, match=rf"state directory {tmp_path} is running"):
        await blocked.result()
    assert list(tmp_path.iterdir()) == [], "nothing saved"
    assert (await segments_watch(account=name, state=str(tmp_path))).baseline
