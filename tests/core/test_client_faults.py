"""The fault matrix: every fault a real API or network can throw, tried over real HTTP.

Each row runs twice, against loopback servers only:

1. ``BotPenguinClient`` alone: the outcome, the exact number of requests (the sandbox's
   counter; where nothing answers, the connection attempts httpcore logs), and an upper bound
   on the time taken (and a lower one where a ``Retry-After`` must be honoured);
2. the ``segments_sync`` flow with export and watch on, in a directory that already holds the
   export and snapshot of an earlier good run: the outcome, the exact requests with Prefect's
   task retries included, and the files -- byte-identical with no temporary files after a
   failure, rewritten with the new data after a success.

Rows marked ``flow=False`` run the client only: their flow run would repeat another row's
(the other 5xx codes, the other spellings of ``Retry-After``, the other ways a transfer
breaks before a retry succeeds), and skipping them keeps the matrix under a minute.

So the matrix runs in seconds, the retry knobs are shrunk through ``BOTPENGUIN_*`` (see
``FAST_RETRIES``: 3 attempts, backoff 0.01 s doubling to 0.05 s, ``Retry-After`` up to 2 s,
a 5 s deadline, timeouts of 0.3 s to connect and 0.5 s to read) and the fetch task's retry
delays are set to zero; the request counts depend on neither. The summary prints the matrix
as a table (``tests/fault_matrix_report.py``).
"""

from __future__ import annotations

import copy
import json
import logging
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from prefect_botpenguin.core.client import BotPenguinClient
from prefect_botpenguin.core.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BotPenguinError,
    ChangeDetectionError,
    RateLimitedError,
    RequestRejectedError,
    ResponseError,
    ServerError,
)
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.core.size_history import history_location
from prefect_botpenguin.flows.sync import ExportStep, WatchStep, segments_sync
from prefect_botpenguin.sandbox import (
    INVALID_OBJECT_ID_MESSAGE,
    SAMPLE_SEGMENTS,
    Fault,
    SandboxServer,
)
from prefect_botpenguin.segments import TASK_RETRIES, fetch_segments

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

TOKEN = "6a1c0ffee5a1e0000b0a7e66"
ACCOUNT = "fault-matrix"
FAST_RETRIES = {
    "BOTPENGUIN_MAX_ATTEMPTS": "3",
    "BOTPENGUIN_BACKOFF_BASE": "0.01",
    "BOTPENGUIN_BACKOFF_CAP": "0.05",
    "BOTPENGUIN_MAX_RETRY_AFTER": "2",
    "BOTPENGUIN_DEADLINE": "5",
    "BOTPENGUIN_CONNECT_TIMEOUT": "0.3",
    "BOTPENGUIN_READ_TIMEOUT": "0.5",
}
ATTEMPTS = 3  # requests per client call, from FAST_RETRIES
FETCHES = 1 + TASK_RETRIES  # whole fetches per flow run for a retryable failure
BEYOND = ATTEMPTS * FETCHES + 5  # a streak no retry budget outlasts
FLOW_OVERHEAD = 20.0  # seconds a sync run may take beyond its fetches, on a busy 2-core machine
MIB = 1024 * 1024

SLOW = Fault(latency=1.0)  # answers after the 0.5 s read timeout
SERVER_ERRORS = (500, 502, 503, 504)


def unknown_fields_segments() -> list[dict[str, Any]]:
    """A segment carrying a field of every JSON type, plus names that clash with ours."""
    every_type = {
        "_id": "6a1c0ffee5a1e0000b0a7e70",
        "_customer": "6a1c0ffee5a1e0000b0a7ea5",
        "segmentName": "Every JSON type",
        "aString": 'chá ☕ "quoted", with\nnewline',
        "emptyString": "",
        "anInteger": 42,
        "aNegative": -7,
        "aHugeInteger": 2**70,
        "aFloat": 38.75,
        "aTinyFloat": 1e-7,
        "true": True,
        "false": False,
        "null": None,
        "emptyList": [],
        "mixedList": [1, "two", 3.0, None, True, {"four": [4]}],
        "emptyObject": {},
        "nested": {"a": {"b": {"c": [{"d": None}]}}},
        "key with spaces.and.dots": "kept",
        "id": "an API field called id",
        "name": "an API field called name",
    }
    return [*copy.deepcopy(SAMPLE_SEGMENTS), every_type]


def ten_mib_segments() -> list[dict[str, Any]]:
    """Sample segments with long filter lists, ids made unique, until the body passes 10 MiB."""
    tags = [f"tag-{n:04d}" for n in range(120)]
    template = copy.deepcopy(SAMPLE_SEGMENTS[0])
    template["filters"].append({"field": "tags", "operator": "in", "value": tags})
    size = len(json.dumps(template, ensure_ascii=False).encode())
    count = 10 * MIB // size + 1
    segments = []
    for number in range(count):
        segment = copy.deepcopy(template)
        segment["_id"] = f"{number:024x}"
        segment["segmentName"] = f"Large account segment {number}"
        segments.append(segment)
    return segments


DATASETS: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "sample": lambda: copy.deepcopy(SAMPLE_SEGMENTS),
    "unknown-fields": unknown_fields_segments,
    "10mib": ten_mib_segments,
}


def http_date(seconds_from_now: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds_from_now), usegmt=True)


def streak(fault: Fault, times: int) -> tuple[Fault, ...]:
    return (fault,) * times


def envelope(data: Any, success: bool = True, code: int = 200, message: str = "") -> dict[str, Any]:
    return {"success": success, "message": message, "data": data, "code": code}


FaultScript = Sequence[Fault] | Callable[["Servers"], Sequence[Fault]]


@dataclass(frozen=True)
class Row:
    """One fault, and exactly what the client and the sync flow must do about it."""

    id: str
    faults: FaultScript = ()
    error: type[BotPenguinError] | None = None
    """What the client raises; None: it returns the segments."""
    requests: int = 1
    flow_error: type[BotPenguinError] | None = None
    flow_requests: int = 1
    max_seconds: float = 2.0
    """Upper bound for the client call; the flow gets FETCHES times it plus FLOW_OVERHEAD."""
    min_seconds: float = 0.0
    endpoint: str = "sandbox"
    """``sandbox``, ``refused`` (nothing listens) or ``stalled`` (connects never complete)."""
    dataset: str = "sample"
    env: dict[str, str] = field(default_factory=dict)
    flow: bool = True
    """False: the client alone, for a fault whose flow run another row already covers."""

    @property
    def export_replaced(self) -> bool:
        return self.flow_error is None or self.flow_error is ChangeDetectionError

    @property
    def snapshot_replaced(self) -> bool:
        return self.flow_error is None


def ok(id: str, faults: FaultScript = (), requests: int = 1, **more: Any) -> Row:
    """A row where the client and the flow both succeed after ``requests`` requests."""
    return Row(id, faults, None, requests, None, requests, **more)


def fails(
    id: str,
    faults: FaultScript,
    error: type[BotPenguinError],
    requests: int,
    flow_requests: int,
    **more: Any,
) -> Row:
    """A row where the client and the flow both raise ``error``."""
    return Row(id, faults, error, requests, error, flow_requests, **more)


ROWS = [
    ok("no fault"),
    # -- 429 -----------------------------------------------------------------------------------
    ok("429 x2 without Retry-After, then OK", streak(Fault.status_code(429), 2), 3),
    fails(
        "429 without Retry-After beyond the budget",
        streak(Fault.status_code(429), BEYOND),
        RateLimitedError,
        ATTEMPTS,
        ATTEMPTS * FETCHES,
    ),
    ok("429 Retry-After: 1 (seconds)", [Fault.retry_after(429, "1")], 2, min_seconds=1.0),
    ok(
        "429 Retry-After: HTTP-date ~1.5 s ahead",
        lambda _: [Fault.retry_after(429, http_date(1.5))],
        2,
        min_seconds=0.4,
        flow=False,
    ),
    ok("429 Retry-After: 0", [Fault.retry_after(429, "0")], 2, max_seconds=1.0, flow=False),
    ok(
        "429 Retry-After: -5 (negative)",
        [Fault.retry_after(429, "-5")],
        2,
        max_seconds=1.0,
        flow=False,
    ),
    ok(
        "429 Retry-After: HTTP-date in the past",
        lambda _: [Fault.retry_after(429, http_date(-3600))],
        2,
        max_seconds=1.0,
        flow=False,
    ),
    ok("429 Retry-After: unreadable ('soon')", [Fault.retry_after(429, "soon")], 2, flow=False),
    fails(
        "429 Retry-After: 1e9 s (absurd; not retried by the task either)",
        streak(Fault.retry_after(429, "1000000000"), BEYOND),
        RateLimitedError,
        1,
        1,
        max_seconds=1.0,
    ),
    fails(
        "429 Retry-After: 1.5 s with a 1 s deadline",
        streak(Fault.retry_after(429, "1.5"), BEYOND),
        RateLimitedError,
        1,
        FETCHES,
        max_seconds=1.0,
        env={"BOTPENGUIN_DEADLINE": "1"},
    ),
    # -- 5xx -----------------------------------------------------------------------------------
    *[
        ok(f"{s} x2, then OK", streak(Fault.status_code(s), 2), 3, flow=s == 503)
        for s in SERVER_ERRORS
    ],
    *[
        fails(
            f"{s} beyond the budget",
            streak(Fault.status_code(s), BEYOND),
            ServerError,
            ATTEMPTS,
            ATTEMPTS * FETCHES,
            flow=s == 503,
        )
        for s in SERVER_ERRORS
    ],
    # -- network -------------------------------------------------------------------------------
    fails(
        "connection refused",
        (),
        APIConnectionError,
        ATTEMPTS,
        ATTEMPTS * FETCHES,
        endpoint="refused",
    ),
    fails(
        "connect timeout (SYNs dropped)",
        (),
        APITimeoutError,
        ATTEMPTS,
        ATTEMPTS * FETCHES,
        max_seconds=3.0,
        endpoint="stalled",
    ),
    ok(
        "read timeout x2, then OK",
        streak(SLOW, 2),
        3,
        min_seconds=1.0,
        max_seconds=3.0,
        flow=False,
    ),
    fails(
        "read timeout beyond the budget",
        streak(SLOW, BEYOND),
        APITimeoutError,
        ATTEMPTS,
        ATTEMPTS * FETCHES,
        min_seconds=1.5,
        max_seconds=3.0,
    ),
    ok("connection closed before any answer, then OK", [Fault.dropped()], 2, flow=False),
    ok("connection reset (RST) mid-body, then OK", [Fault.reset_mid_body()], 2),
    fails(
        "connection reset (RST) mid-body beyond the budget",
        streak(Fault.reset_mid_body(), BEYOND),
        APIConnectionError,
        ATTEMPTS,
        ATTEMPTS * FETCHES,
    ),
    ok("body cut short (FIN mid-body), then OK", [Fault.truncated()], 2, flow=False),
    # -- bodies --------------------------------------------------------------------------------
    fails(
        "truncated JSON with a complete HTTP body",
        [
            Fault.malformed(
                '{"success": true, "data": [{"_id": "6a1c', content_type="application/json"
            )
        ],
        ResponseError,
        1,
        1,
    ),
    fails("HTML error page with status 200", [Fault.malformed()], ResponseError, 1, 1),
    fails("empty body with status 200", [Fault(body=b"")], ResponseError, 1, 1),
    fails(
        "success: false with code 422 (4xx)",
        [Fault(body=envelope([], False, 422, "segment filter is invalid"))],
        ResponseError,
        1,
        1,
    ),
    fails(
        "HTTP 400 with success: false",
        [Fault(status=400, body=envelope([], False, 400, "Bad request"))],
        RequestRejectedError,
        1,
        1,
    ),
    ok(
        "success: false with code 503 x2, then OK",
        streak(Fault(body=envelope([], False, 503, "busy")), 2),
        3,
        flow=False,
    ),
    fails(
        "success: false with code 503 beyond the budget",
        streak(Fault(body=envelope([], False, 503, "busy")), BEYOND),
        ResponseError,
        ATTEMPTS,
        ATTEMPTS * FETCHES,
    ),
    fails(
        "data is an object, not a list",
        [Fault(body=envelope({"segments": SAMPLE_SEGMENTS}))],
        ResponseError,
        1,
        1,
    ),
    fails(
        "a segment without _id",
        [Fault(body=envelope([{"segmentName": "No id"}, *SAMPLE_SEGMENTS]))],
        ResponseError,
        1,
        1,
    ),
    Row(
        "duplicate segment ids (exported as sent; watch refuses)",
        [Fault(body=envelope([*SAMPLE_SEGMENTS, SAMPLE_SEGMENTS[0]]))],
        None,
        1,
        ChangeDetectionError,
        1,
    ),
    ok("10 MiB response", requests=1, max_seconds=5.0, dataset="10mib"),
    ok("unknown fields of every JSON type (kept)", dataset="unknown-fields"),
    ok("valid JSON envelope sent as text/plain (accepted)", [Fault(content_type="text/plain")]),
    fails(
        "302 redirect to another host (token not sent there)",
        lambda servers: [
            Fault(
                status=302,
                body=b"",
                headers={"Location": f"http://localhost:{servers.elsewhere.port}/inbox/segments"},
            )
        ],
        RequestRejectedError,
        1,
        1,
    ),
    # -- refusals ------------------------------------------------------------------------------
    fails(
        "401 (revoked token)",
        [Fault(status=401, body=envelope([], False, 401, "Invalid token"))],
        AuthenticationError,
        1,
        1,
    ),
    fails(
        "400 malformed-token message",
        [Fault(status=400, body=envelope([], False, 400, INVALID_OBJECT_ID_MESSAGE))],
        AuthenticationError,
        1,
        1,
    ),
    fails(
        "404 (wrong base URL path)",
        [Fault(status=404, body=envelope([], False, 404, "Cannot GET"))],
        RequestRejectedError,
        1,
        1,
    ),
]


@dataclass
class Servers:
    """The loopback endpoints one row may use."""

    sandbox: SandboxServer
    elsewhere: SandboxServer
    """A second server, named ``localhost`` instead of 127.0.0.1: the redirect target."""
    url: str
    port: int


@contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port nothing listens on, so every connect is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    yield port


@contextmanager
def stalled_port() -> Iterator[int]:
    """A loopback port whose accept queue is full and never drained.

    Linux drops a SYN when the listener's accept queue is full, so a new connect neither
    succeeds nor is refused: it hangs until the client's connect timeout, like a host behind
    a firewall that drops packets -- the only way to get one on a loopback-only machine.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers: list[socket.socket] = []
    try:
        for _ in range(16):
            try:
                fillers.append(socket.create_connection(("127.0.0.1", port), timeout=0.2))
            except TimeoutError:
                break
        else:
            pytest.fail("the kernel kept accepting connections: cannot make a stalled port")
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@pytest.fixture
def servers(request: pytest.FixtureRequest) -> Iterator[Servers]:
    row: Row = request.param
    data = DATASETS[row.dataset]()
    with (
        SandboxServer(accounts={TOKEN: data}) as sandbox,
        SandboxServer("localhost", accounts={TOKEN: SAMPLE_SEGMENTS}) as elsewhere,
    ):
        if row.endpoint == "sandbox":
            yield Servers(sandbox, elsewhere, sandbox.url, sandbox.port)
            return
        ports = refused_port() if row.endpoint == "refused" else stalled_port()
        with ports as port:
            yield Servers(sandbox, elsewhere, f"http://127.0.0.1:{port}", port)


_BASELINES: dict[str, Path] = {}


async def good_run(sandbox: SandboxServer, dataset: str, cache: Path) -> Path:
    """The export and snapshot of a first good sync run on ``dataset``, made once per dataset."""
    if dataset not in _BASELINES:
        workdir = cache / dataset
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("BOTPENGUIN_BASE_URL", sandbox.url)
            await run_sync(workdir)
        sandbox.reset()
        _BASELINES[dataset] = workdir
    return _BASELINES[dataset]


async def run_sync(workdir: Path) -> BaseException | None:
    """Run the sync flow with export and watch into ``workdir``; return its error, if any."""
    state = await segments_sync(
        account=ACCOUNT,
        publish_artifacts=False,
        export=ExportStep(enabled=True, destination=str(workdir / "export" / "segments.json")),
        watch=WatchStep(state=str(workdir / "state")),
        return_state=True,
    )
    if not state.is_failed():
        return None
    try:
        await state.result()
    except BaseException as exc:
        return exc
    raise AssertionError("a failed run without an exception")


def attempts(servers: Servers, caplog: pytest.LogCaptureFixture) -> int:
    """Requests the sandbox received, or connection attempts where nothing answers."""
    if servers.url == servers.sandbox.url:
        return servers.sandbox.request_count
    started = re.compile(rf"connect_tcp\.started host='127\.0\.0\.1' port={servers.port}\b")
    return sum(
        1
        for r in caplog.records
        if r.name == "httpcore.connection" and started.search(r.getMessage())
    )


def outcome(error: type[BaseException] | BaseException | None, requests: int) -> str:
    if error is None:
        return f"ok@{requests}"
    kind = error if isinstance(error, type) else type(error)
    return f"{kind.__name__}@{requests}"


def script(row: Row, servers: Servers) -> Sequence[Fault]:
    return row.faults(servers) if callable(row.faults) else row.faults


@dataclass(frozen=True)
class Files:
    """An export and a snapshot, as bytes and inode, plus every other name in their folders."""

    export: bytes
    export_inode: int
    snapshot: bytes
    history: bytes | None
    strays: list[str]

    @classmethod
    def read(cls, workdir: Path) -> Files:
        export = workdir / "export" / "segments.json"
        snapshot = workdir / "state" / f"{ACCOUNT}.json"
        history = Path(history_location(str(workdir / "state"), ACCOUNT))
        strays = [
            p.name
            for folder in (export.parent, snapshot.parent)
            for p in folder.iterdir()
            if p not in (export, snapshot, history)
        ]
        return cls(
            export.read_bytes(),
            export.stat().st_ino,
            snapshot.read_bytes(),
            history.read_bytes() if history.exists() else None,
            strays,
        )


def files_verdict(before: Files, after: Files) -> str:
    export = (
        "kept"
        if (after.export, after.export_inode) == (before.export, before.export_inode)
        else "new"
    )
    snapshot = "kept" if after.snapshot == before.snapshot else "new"
    strays = f", strays: {after.strays}" if after.strays else ""
    return f"export {export}, snapshot {snapshot}{strays}"


@dataclass(frozen=True)
class Observed:
    """What one run did: the error it ended with (None: success), its requests, its time."""

    error: BaseException | None
    requests: int
    seconds: float


async def client_call(
    row: Row, servers: Servers, caplog: pytest.LogCaptureFixture
) -> tuple[Observed, list[Segment] | None]:
    servers.sandbox.reset()
    caplog.clear()
    servers.sandbox.inject(*script(row, servers))
    segments: list[Segment] | None = None
    error: BotPenguinError | None = None
    started = time.monotonic()
    try:
        async with BotPenguinClient.from_settings() as client:
            segments = await client.get_segments()
    except BotPenguinError as exc:
        error = exc
    return Observed(error, attempts(servers, caplog), time.monotonic() - started), segments


async def flow_run(
    row: Row, servers: Servers, caplog: pytest.LogCaptureFixture, baseline: Path, workdir: Path
) -> tuple[Observed, Files, Files]:
    servers.sandbox.reset()
    caplog.clear()
    servers.sandbox.inject(*script(row, servers))
    shutil.copytree(baseline, workdir, dirs_exist_ok=True)
    before = Files.read(workdir)
    started = time.monotonic()
    error = await run_sync(workdir)
    seconds = time.monotonic() - started
    return Observed(error, attempts(servers, caplog), seconds), before, Files.read(workdir)


@pytest.mark.parametrize("servers", [pytest.param(row, id=row.id) for row in ROWS], indirect=True)
async def test_fault_matrix_row(
    servers: Servers,
    request: pytest.FixtureRequest,
    record_property: Callable[[str, object], None],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    row: Row = request.node.callspec.params["servers"]
    for name, value in {**FAST_RETRIES, **row.env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BOTPENGUIN_API_TOKEN", TOKEN)
    monkeypatch.delenv("BOTPENGUIN_ACCOUNT", raising=False)
    # Real task retries, without their 10 s and 30 s pauses.
    monkeypatch.setattr(
        "prefect_botpenguin.flows.sync.fetch_segments",
        fetch_segments.with_options(retry_delay_seconds=0),
    )
    caplog.set_level(logging.DEBUG, logger="httpcore")
    if row.flow:
        cache = tmp_path_factory.getbasetemp() / "fault-matrix-baselines"
        baseline = await good_run(servers.sandbox, row.dataset, cache)
    monkeypatch.setenv("BOTPENGUIN_BASE_URL", servers.url)
    data = script_data(row, servers, DATASETS[row.dataset]())

    client, segments = await client_call(row, servers, caplog)
    if row.flow:
        flow, before, after = await flow_run(row, servers, caplog, baseline, tmp_path)

    record_property(
        "fault_matrix",
        {
            "#": str(ROWS.index(row) + 1),
            "row": row.id,
            "client: expected": outcome(row.error, row.requests),
            "seen": outcome(client.error, client.requests),
            "s": f"{client.seconds:.2f}",
            "flow: expected": (
                outcome(row.flow_error, row.flow_requests) if row.flow else "(client only)"
            ),
            "seen ": outcome(flow.error, flow.requests) if row.flow else "-",
            "s ": f"{flow.seconds:.2f}" if row.flow else "-",
            "files after the flow": files_verdict(before, after) if row.flow else "-",
        },
    )

    if row.error is None:
        assert client.error is None, f"unexpected {client.error!r}"
        assert segments is not None
        assert [s.to_api_dict() for s in segments] == data
    else:
        assert type(client.error) is row.error, f"expected {row.error.__name__}: {client.error!r}"
        assert "\n" not in str(client.error)
    assert client.requests == row.requests
    assert row.min_seconds <= client.seconds <= row.max_seconds
    assert servers.elsewhere.request_count == 0, "a request followed the redirect"
    if not row.flow:
        return

    if row.flow_error is None:
        assert flow.error is None, f"unexpected {flow.error!r}"
    else:
        assert type(flow.error) is row.flow_error, (
            f"expected {row.flow_error.__name__}: {flow.error!r}"
        )
    assert flow.requests == row.flow_requests
    assert flow.seconds <= row.max_seconds * FETCHES + FLOW_OVERHEAD
    assert after.strays == [], "a temporary file was left behind"
    if row.export_replaced:
        assert after.export_inode != before.export_inode, "the export was not rewritten"
        assert json.loads(after.export) == [Segment.model_validate(s).to_record() for s in data]
    else:
        assert (after.export, after.export_inode) == (before.export, before.export_inode)
    if row.snapshot_replaced:
        snapshot = json.loads(after.snapshot)
        assert snapshot["segments"] == data
        assert snapshot["fetched_at"] > json.loads(before.snapshot)["fetched_at"]
        assert after.history is not None, "no size point"
        assert after.history != before.history, "no new size point"
    else:
        assert after.snapshot == before.snapshot
        assert after.history == before.history, "a failed run added a size point"


def script_data(row: Row, servers: Servers, default: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The segments a successful row's last answer carried: a fault's own body, or the data."""
    for fault in reversed(script(row, servers)):
        if isinstance(fault.body, dict) and fault.body.get("success") is True:
            return list(fault.body["data"])
    return default


def test_reset_fault_round_trips_through_the_control_endpoint_format() -> None:
    fault = Fault.reset_mid_body(503)
    assert Fault.from_dict(json.loads(json.dumps(fault.to_dict()))) == fault
    with pytest.raises(ValueError, match="resets"):
        Fault(reset=True, truncate=True)


async def test_a_first_run_refuses_duplicate_ids_before_saving_a_snapshot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Saved, a baseline with an id twice could never be compared: every later run would fail.
    duplicated = [*SAMPLE_SEGMENTS, SAMPLE_SEGMENTS[0]]
    with SandboxServer(accounts={TOKEN: duplicated}) as sandbox:
        monkeypatch.setenv("BOTPENGUIN_BASE_URL", sandbox.url)
        monkeypatch.setenv("BOTPENGUIN_API_TOKEN", TOKEN)
        error = await run_sync(tmp_path)

    assert isinstance(error, ChangeDetectionError)
    assert "appears twice" in str(error)
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").iterdir())
    exported = json.loads((tmp_path / "export" / "segments.json").read_bytes())
    assert [record["id"] for record in exported] == [s["_id"] for s in duplicated]
