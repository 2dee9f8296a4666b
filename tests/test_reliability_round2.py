"""Issue 12: no alert lost or doubled, no false alarm.

Each test runs ``segments_watch`` over real HTTP against the sandbox, on the session's Prefect
test server, with loopback webhook receivers; the state is a real snapshot file.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.concurrency.asyncio import concurrency
from prefect.events import Event
from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter

from prefect_botpenguin.core.accounts import account_slug
from prefect_botpenguin.core.errors import NotificationError, SnapshotError, WatchLockError
from prefect_botpenguin.core.watch_state import target_key
from prefect_botpenguin.flows.cli import main
from prefect_botpenguin.flows.watch import segments_watch
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS, Fault, SandboxServer
from prefect_botpenguin.snapshots import snapshot_location
from prefect_botpenguin.watch_lock import _ensure_limit, watch_lock_name

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]
TOKEN = "6a1c0ffee5a1e0000b0a7e12"


# -- fixtures --------------------------------------------------------------------------------


@dataclass
class Delivery:
    path: str
    status: int
    body: dict[str, Any]

    @property
    def change(self) -> str | None:
        for line in str(self.body.get("message", "")).splitlines():
            if line.startswith("Change id: "):
                return line.removeprefix("Change id: ")
        return None


@dataclass
class Hooks:
    """Webhook endpoints on 127.0.0.1; each path answers ``status[path]`` (default 200)."""

    port: int = 0
    status: dict[str, int] = field(default_factory=dict)
    received: list[Delivery] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def accepted(self, path: str | None = None) -> list[Delivery]:
        return [d for d in self.received if d.status == 200 and path in (None, d.path)]


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    state = Hooks()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                status = state.status.get(self.path, 200)
                state.received.append(Delivery(self.path, status, json.loads(body or b"{}")))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    with SandboxServer(accounts={TOKEN: SAMPLE_SEGMENTS}) as server:
        monkeypatch.setenv("BOTPENGUIN_BASE_URL", server.url)
        monkeypatch.setenv("BOTPENGUIN_API_TOKEN", TOKEN)
        monkeypatch.delenv("BOTPENGUIN_ACCOUNT", raising=False)
        yield server


def label() -> str:
    return f"Larkspur {uuid.uuid4().hex[:8]}"


def renamed_first() -> list[dict[str, Any]]:
    records = copy.deepcopy(SAMPLE_SEGMENTS)
    records[0]["segmentName"] = "VIP tea circle"
    return records


def state_document(state: Path, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        Path(snapshot_location(str(state), name)).read_text(encoding="utf-8")
    )
    return document


async def events_of(name: str, prefix: str = "botpenguin.segment.") -> list[Event]:
    async with get_client() as client:
        page = await client.read_events(
            EventFilter(
                event=EventNameFilter(prefix=[prefix]),
                related=EventRelatedFilter(id=[f"botpenguin.account.{account_slug(name)}"]),
            ),
            limit=50,
        )
    return page.events


async def account_events(name: str, event: str) -> list[Event]:
    """Events whose *resource* is the account (the drop guard's), by exact name."""
    async with get_client() as client:
        page = await client.read_events(
            EventFilter(event=EventNameFilter(name=[event])),
            limit=50,
        )
    resource = f"botpenguin.account.{account_slug(name)}"
    return [e for e in page.events if e.resource.id == resource]


# -- 1. outbox -------------------------------------------------------------------------------


async def test_a_message_a_target_refused_goes_to_that_target_only_on_the_next_run(
    account: SandboxServer, hooks: Hooks, tmp_path: Path
) -> None:
    name = label()
    run = dict(account=name, state=str(tmp_path), notify=[hooks.url("/ok"), hooks.url("/down")])
    await segments_watch(**run)
    account.set_segments(renamed_first(), token=TOKEN)
    hooks.status["/down"] = 500

    failed = await segments_watch(**run, return_state=True)

    assert failed.is_failed()
    with pytest.raises(NotificationError, match=r"1 undelivered change message\(s\) stay"):
        await failed.result()
    (first,) = hooks.accepted("/ok")
    assert [d.path for d in hooks.received] == ["/ok", "/down"]
    (kept,) = state_document(tmp_path, name)["pending"]
    assert kept["id"] == first.change
    assert kept["delivered"] == [target_key(hooks.url("/ok"))]
    assert "127.0.0.1" not in json.dumps(kept["owed"]).replace("json://127.0.0.1", "")
    assert state_document(tmp_path, name)["segments"] == renamed_first(), "snapshot advanced"

    hooks.status["/down"] = 200
    retried = await segments_watch(**run)

    assert not retried.changed
    assert retried.notified == ["json://127.0.0.1"]
    assert retried.pending == 0
    (late,) = hooks.accepted("/down")
    assert late.change == first.change
    assert late.body["title"] == first.body["title"]
    assert late.body["message"].startswith("Delivered late: this message was due at")
    assert len(hooks.accepted("/ok")) == 1, "the target that had it never gets it twice"
    assert state_document(tmp_path, name)["pending"] == []

    await segments_watch(**run)
    assert len(hooks.received) == 3, "nothing left to send"


async def test_drop_pending_gives_up_undelivered_messages(
    account: SandboxServer, hooks: Hooks, tmp_path: Path
) -> None:
    name = label()
    run = dict(account=name, state=str(tmp_path), notify=[hooks.url("/down")])
    await segments_watch(**run)
    account.set_segments(renamed_first(), token=TOKEN)
    hooks.status["/down"] = 500
    assert (await segments_watch(**run, return_state=True)).is_failed()
    assert len(state_document(tmp_path, name)["pending"]) == 1

    dropped = await segments_watch(**run, drop_pending=True)

    assert dropped.pending == 0
    assert state_document(tmp_path, name)["pending"] == []
    assert len(hooks.received) == 1, "the dropped message is not tried again"


async def test_a_message_owed_to_a_target_this_run_lacks_waits_for_a_run_with_it(
    account: SandboxServer, hooks: Hooks, tmp_path: Path
) -> None:
    name = label()
    await segments_watch(account=name, state=str(tmp_path))
    account.set_segments(renamed_first(), token=TOKEN)
    hooks.status["/down"] = 500
    with_target = dict(account=name, state=str(tmp_path), notify=[hooks.url("/down")])
    assert (await segments_watch(**with_target, return_state=True)).is_failed()

    terminal = await segments_watch(account=name, state=str(tmp_path))  # no --notify

    assert terminal.pending == 1
    hooks.status["/down"] = 200
    await segments_watch(**with_target)
    assert [d.status for d in hooks.received] == [500, 200]
    assert state_document(tmp_path, name)["pending"] == []


async def test_a_version_1_snapshot_is_read_and_rewritten_as_version_2(
    account: SandboxServer, hooks: Hooks, tmp_path: Path
) -> None:
    name = label()
    (tmp_path / f"{account_slug(name)}.json").write_text(
        json.dumps(
            {
                "format": "prefect-botpenguin/segments-snapshot",
                "version": 1,
                "account": name,
                "fetched_at": "2025-01-01T00:00:00+00:00",
                "source": None,
                "segment_count": len(SAMPLE_SEGMENTS),
                "segments": SAMPLE_SEGMENTS,
            }
        ),
        encoding="utf-8",
    )
    account.set_segments(renamed_first(), token=TOKEN)

    result = await segments_watch(account=name, state=str(tmp_path), notify=[hooks.url("/a")])

    assert result.changed
    assert len(hooks.accepted()) == 1
    document = state_document(tmp_path, name)
    assert document["version"] == 2
    assert document["pending"] == []
    assert document["held_drops"] == 0


# -- 2. drop guard ---------------------------------------------------------------------------


async def test_an_empty_answer_after_a_full_snapshot_is_held_not_reported_as_removals(
    account: SandboxServer,
    hooks: Hooks,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = label()
    run = dict(account=name, state=str(tmp_path), notify=[hooks.url("/a")])
    await segments_watch(**run)
    saved = state_document(tmp_path, name)
    account.inject(Fault(body={"success": True, "message": "", "data": [], "code": 200}))

    held = await segments_watch(**run)

    assert held.held_drop
    assert not held.changed
    assert held.event_ids
    assert hooks.received == [], "no message about a drop that is not trusted yet"
    assert await events_of(name) == [], "no removal events"
    (suspicious,) = await account_events(name, "botpenguin.segments.suspicious-drop")
    assert suspicious.payload["previous_count"] == 6
    assert suspicious.payload["current_count"] == 0
    assert "Suspicious drop held" in caplog.text
    after = state_document(tmp_path, name)
    assert after["segments"] == saved["segments"]
    assert after["fetched_at"] == saved["fetched_at"]
    assert after["held_drops"] == 1

    recovered = await segments_watch(**run)  # the API answers in full again

    assert not recovered.changed
    assert not recovered.held_drop
    assert hooks.received == []
    assert await events_of(name) == [], "nothing created either"
    assert state_document(tmp_path, name)["held_drops"] == 0


async def test_a_drop_seen_on_consecutive_runs_is_accepted_and_reported(
    account: SandboxServer, hooks: Hooks, tmp_path: Path
) -> None:
    name = label()
    run = dict(account=name, state=str(tmp_path), notify=[hooks.url("/a")])
    await segments_watch(**run)
    account.set_segments(SAMPLE_SEGMENTS[:1], token=TOKEN)  # 5 of 6 gone

    first = await segments_watch(**run)
    second = await segments_watch(**run)

    assert first.held_drop
    assert second.diff is not None
    assert len(second.diff.removed) == 5
    assert len(await events_of(name)) == 5
    (message,) = hooks.accepted()
    assert "5 removed" in message.body["title"]


async def test_accept_drop_reports_a_drop_at_once(
    account: SandboxServer, hooks: Hooks, tmp_path: Path
) -> None:
    name = label()
    await segments_watch(account=name, state=str(tmp_path))
    account.set_segments([], token=TOKEN)

    accepted = await segments_watch(account=name, state=str(tmp_path), accept_drop=True)

    assert accepted.diff is not None
    assert len(accepted.diff.removed) == 6
    assert state_document(tmp_path, name)["segments"] == []


async def test_the_drop_guard_share_is_configurable_and_a_smaller_loss_is_reported_at_once(
    account: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = label()
    await segments_watch(account=name, state=str(tmp_path))
    account.set_segments(SAMPLE_SEGMENTS[:3], token=TOKEN)  # half gone: not "more than half"

    reported = await segments_watch(account=name, state=str(tmp_path))
    assert reported.diff is not None
    assert len(reported.diff.removed) == 3

    monkeypatch.setenv("BOTPENGUIN_DROP_GUARD_SHARE", "0.3")
    account.set_segments(SAMPLE_SEGMENTS[:1], token=TOKEN)  # 2 of 3 gone
    assert (await segments_watch(account=name, state=str(tmp_path))).held_drop


# -- 3. one watch per account ----------------------------------------------------------------


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


# -- 4. state you can trust ------------------------------------------------------------------


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


# -- 6. soak ---------------------------------------------------------------------------------

SOAK_RUNS = int(os.environ.get("BOTPENGUIN_SOAK_RUNS", "40"))
"""40 in CI; ``BOTPENGUIN_SOAK_RUNS=300`` for the full soak."""
SOAK_SEED = int(os.environ.get("BOTPENGUIN_SOAK_SEED", "20261202"))
SOAK_SETTINGS = {
    "BOTPENGUIN_MAX_ATTEMPTS": "2",
    "BOTPENGUIN_BACKOFF_BASE": "0.01",
    "BOTPENGUIN_BACKOFF_CAP": "0.02",
    "BOTPENGUIN_DEADLINE": "5",
    "BOTPENGUIN_CONNECT_TIMEOUT": "0.3",
    "BOTPENGUIN_READ_TIMEOUT": "0.3",
}
FAILING = {"5xx outage", "resets"}
EMPTY_ANSWER = Fault(body={"success": True, "message": "", "data": [], "code": 200})
SOAK_FAULTS: dict[str, list[Fault]] = {
    # Within the client's two attempts: the run succeeds.
    "5xx blip": [Fault.status_code(503)],
    "read timeout": [Fault(latency=0.6)],
    "reset mid-body": [Fault.reset_mid_body()],
    # Outlasting them (the fetch task's own retries are off here): the run fails.
    "5xx outage": [Fault.status_code(502), Fault.status_code(503)],
    "resets": [Fault.reset_mid_body(), Fault.dropped()],
    # A 200 with no segments: the drop guard must hold it.
    "empty answer": [EMPTY_ANSWER],
}


@dataclass
class Truth:
    """The sandbox's segments over time: what a perfect watcher would have seen."""

    records: dict[str, dict[str, Any]]
    history: list[tuple[datetime, set[str]]] = field(default_factory=list)
    changes: int = 0
    created: int = 0

    def mutate(self, rng: random.Random, step: int) -> None:
        for _ in range(rng.randint(1, 2)):
            kind = rng.choice(["create", "rename", "recount", "remove"])
            if kind == "remove" and len(self.records) <= 6:
                kind = "create"
            if kind == "create":
                self.created += 1
                segment_id = f"50a4{self.created:020x}"
                self.records[segment_id] = {"_id": segment_id, "segmentName": f"Soak {step}"}
            else:
                segment_id = rng.choice(sorted(self.records))
                if kind == "remove":
                    del self.records[segment_id]
                elif kind == "rename":
                    self.records[segment_id]["segmentName"] = f"Renamed at {step}"
                else:
                    self.records[segment_id]["contactCount"] = rng.randint(0, 99999)
            self.changes += 1

    def publish(self, sandbox: SandboxServer) -> None:
        sandbox.set_segments(list(copy.deepcopy(self.records).values()), token=TOKEN)
        self.history.append((datetime.now(UTC), set(self.records)))

    def ids_at(self, moment: datetime) -> set[str]:
        return next(ids for at, ids in reversed(self.history) if at <= moment)


async def all_events(name: str) -> list[Event]:
    """Every segment event of the account, read back page by page from the Prefect API."""
    async with get_client() as client:
        page = await client.read_events(
            EventFilter(
                event=EventNameFilter(prefix=["botpenguin.segment."]),
                related=EventRelatedFilter(id=[f"botpenguin.account.{account_slug(name)}"]),
            ),
            limit=50,
        )
        events = list(page.events)
        while page.next_page:
            page = await client.read_events_page(str(page.next_page))
            events += page.events
    return events


def rebuild(
    baseline: dict[str, dict[str, Any]], events: list[Event], truth: Truth
) -> tuple[dict[str, dict[str, Any]], int, int]:
    """Apply the announced changes to the baseline: (segments, doubled, false removals)."""
    state = copy.deepcopy(baseline)
    doubled = false_removals = 0
    for event in sorted(events, key=lambda e: e.occurred):
        segment_id = event.resource.id.removeprefix("botpenguin.segment.")
        after = event.payload.get("after") or {}
        if event.event == "botpenguin.segment.created":
            doubled += segment_id in state
            state[segment_id] = dict(after)
        elif event.event == "botpenguin.segment.removed":
            doubled += segment_id not in state
            false_removals += segment_id in truth.ids_at(event.occurred)
            state.pop(segment_id, None)
        else:
            doubled += segment_id not in state
            record = state.setdefault(segment_id, {"_id": segment_id})
            for key in event.payload["fields"]:
                if key in after:
                    record[key] = after[key]
                else:
                    record.pop(key, None)
    return state, doubled, false_removals


async def test_soak_random_changes_and_faults_lose_double_and_invent_no_change(
    account: SandboxServer,
    hooks: Hooks,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from prefect_botpenguin.segments import fetch_segments

    for key, value in SOAK_SETTINGS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(
        "prefect_botpenguin.flows.watch.fetch_segments", fetch_segments.with_options(retries=0)
    )
    rng = random.Random(SOAK_SEED)
    name = label()
    run = dict(account=name, state=str(tmp_path), notify=[hooks.url("/soak")])
    truth = Truth({s["_id"]: copy.deepcopy(s) for s in SAMPLE_SEGMENTS})
    truth.publish(account)
    await segments_watch(**run)
    baseline = copy.deepcopy(truth.records)
    faults: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    last_fetched = ""  # the fault of the last run whose fetch got an answer

    for step in range(SOAK_RUNS):
        if rng.random() < 0.6:
            truth.mutate(rng, step)
            truth.publish(account)
        fault = rng.choice([*SOAK_FAULTS, "notification 500", "none", "none", "none"])
        if fault == last_fetched == "empty answer":
            # A glitch lasts one answer here: the guard trusts a drop that the next answer (a
            # failed fetch is none) repeats, as it would a real one (BOTPENGUIN_DROP_GUARD_RUNS).
            fault = "none"
        if fault not in FAILING:
            last_fetched = fault
        faults[fault] += 1
        account.inject(*SOAK_FAULTS.get(fault, []))
        if fault == "notification 500":
            hooks.status["/soak"] = 500
        state = await segments_watch(**run, return_state=True)
        result = await state.result(raise_on_failure=False)
        outcomes[
            type(result).__name__ if state.is_failed() else "held" if result.held_drop else "ok"
        ] += 1
        assert account.pending_faults == [], f"run {step} left faults unconsumed"
        hooks.status.clear()
    drained = await segments_watch(**run)  # a quiet network delivers what is still owed
    elapsed = time.monotonic() - started

    events = await all_events(name)
    rebuilt, doubled_events, false_removals = rebuild(baseline, events, truth)
    lost_changes = sum(
        rebuilt.get(segment_id) != record for segment_id, record in truth.records.items()
    ) + len(set(rebuilt) - set(truth.records))
    delivered = Counter(d.change for d in hooks.accepted())
    announced = {e.payload["change"] for e in events}
    lost_messages = len(announced - set(delivered))
    doubled_messages = sum(n - 1 for n in delivered.values())
    lost = lost_changes + lost_messages + drained.pending
    doubled = doubled_events + doubled_messages
    with capsys.disabled():
        print(
            f"\nsoak: seed={SOAK_SEED} runs={SOAK_RUNS} in {elapsed:.1f} s; "
            f"faults={sum(n for f, n in faults.items() if f != 'none')} "
            f"({', '.join(f'{f} {n}' for f, n in sorted(faults.items()) if f != 'none')}); "
            f"outcomes: {', '.join(f'{o} {n}' for o, n in sorted(outcomes.items()))}; "
            f"changes={truth.changes} events={len(events)} messages={len(announced)} "
            f"deliveries={len(hooks.received)} lost={lost} doubled={doubled} "
            f"false_removals={false_removals}"
        )
    assert (lost, doubled, false_removals) == (0, 0, 0)
    assert faults["empty answer"], "the seed exercises the drop guard"
    assert faults["notification 500"], "the seed exercises the outbox"
