"""Shared fixtures: one Prefect test harness per session, and a sandbox per test."""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import tempfile
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

# Offline machines: no telemetry, and keep each test session's Prefect home to itself.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Watch runs wait until their events are readable; the server's persister flushes every 5 s by
# default, which made each run with a change take seconds (and the soak test minutes).
os.environ.setdefault("PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL", "0.1")
# The unit tier's test server has its "database is locked" answers retried within a quarter
# second (prefect_test_server.py), so clients retry eight times instead of five. Set here, for
# the test process and every process it starts, Prefect's back-off between other retries
# (2, 4, ... 256 s) still bounds a dead server's wait, to 8.5 min instead of one.
os.environ.setdefault("PREFECT_CLIENT_MAX_RETRIES", "8")

# Prefect's clients build an SSL context on every get_client() and load the whole default CA
# bundle into it (~25 ms of CPU; a watch run makes several clients), even for the test
# servers' plain http://127.0.0.1. With a one-certificate bundle that costs next to nothing.
# Every Prefect API these tests talk to is plain HTTP on loopback; the pack's own TLS trust is
# BOTPENGUIN_CA_BUNDLE, not this.
if "PREFECT_API_SSL_CERT_FILE" not in os.environ:
    _unused_ca = Path(tempfile.mkdtemp(prefix="botpenguin-prefect-ca-")) / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(_unused_ca))
    os.environ["PREFECT_API_SSL_CERT_FILE"] = str(_unused_ca)
    atexit.register(shutil.rmtree, _unused_ca.parent, ignore_errors=True)

# pytest-xdist (pyproject's addopts): each worker gets a Prefect home of its own, so two
# workers never share a profile, local result storage or a pack's state file under it.
if worker := os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix=f"botpenguin-prefect-home-{worker}-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)

from moto_s3 import S3Bucket

from prefect_botpenguin.sandbox import SandboxServer

# Plugins next to this file; registered here, the top conftest, so that pytest-xdist's
# controller (which collects nothing itself) also loads the summary hooks.
pytest_plugins = ["fault_matrix_report", "run_notes", "xdist_groups"]


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect server and SQLite database for every flow test of the session
    (Prefect's test harness, with the changes ``prefect_test_server`` explains)."""
    from prefect_test_server import prefect_test_server

    # Every worker starts one at the same moment (four in .ci/prefect-floor, beside its e2e
    # stacks); the first runs all the database migrations while the others wait for a copy,
    # so leave a busy runner room.
    # No flow-run heartbeats (Prefect sends them every 180 s by default): a sync flow run
    # waits up to a second at its end for the heartbeat thread's 1 s sleep, and every run
    # sends one more event. The tests of heartbeats send their own; the e2e tier's
    # deployments keep theirs (prefect.yaml).
    with prefect_test_server(startup_timeout=120), _no_flow_heartbeats():
        yield


def _no_flow_heartbeats() -> AbstractContextManager[object]:
    """Flow-run heartbeats off; Prefect 3.4 (the floor) has no such setting and sends none."""
    try:
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    except ImportError:
        return nullcontext()
    return temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})


@pytest.fixture
def sample_server() -> Iterator[SandboxServer]:
    """A fresh sandbox server on a free loopback port, with the invented sample account.

    Named apart from ``sandbox`` so that end-to-end tests, whose ``sandbox`` is the README's
    session-wide one, can still ask for an in-process server of their own.
    """
    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox(sample_server: SandboxServer) -> SandboxServer:
    """The in-process sandbox most tests use (end-to-end tests override this name)."""
    return sample_server


@pytest.fixture
def sandbox_env(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """Point ``BOTPENGUIN_*`` settings at the sandbox for code that reads the environment."""
    monkeypatch.setenv("BOTPENGUIN_BASE_URL", sandbox.url)
    monkeypatch.setenv("BOTPENGUIN_API_TOKEN", sandbox.token)
    monkeypatch.delenv("BOTPENGUIN_ACCOUNT", raising=False)
    return sandbox


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record at DEBUG, Prefect's run loggers included (they do not propagate),
    for the tests that check nothing secret or personal reaches a log."""
    caplog.set_level(logging.DEBUG)
    for name in ("prefect", "httpx", "httpcore", "botpenguin"):
        caplog.set_level(logging.DEBUG, logger=name)
    prefect_logger = logging.getLogger("prefect")
    attach = not prefect_logger.propagate
    if attach:
        prefect_logger.addHandler(caplog.handler)
    yield caplog
    if attach:
        prefect_logger.removeHandler(caplog.handler)


@pytest.fixture(scope="session")
def prefect_api_url(prefect_harness: None) -> str:
    """The harness server's API URL, for subprocesses that should report to it."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "the Prefect test harness did not set PREFECT_API_URL"
    return str(url)


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LoopbackReceiver:
    """A webhook endpoint on 127.0.0.1 that records every request and answers ``status``."""

    port: int = 0
    status: int = 200
    requests: list[ReceivedRequest] = field(default_factory=list)

    def url(self, path: str = "/hook", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"


@pytest.fixture
def receiver() -> Iterator[LoopbackReceiver]:
    """A real HTTP receiver for notifications, served from a thread for one test."""
    state = LoopbackReceiver()

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append(ReceivedRequest(self.command, self.path, headers, body))
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_POST = do_PUT = do_GET = _record

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


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """A real S3 API (moto's server) on a free loopback port; its endpoint URL.

    One per worker (``xdist_groups.PER_WORKER``), like the Prefect harness: each binds its own
    port. ``s3_bucket`` empties it before each test.
    """
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_s3: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[S3Bucket]:
    """A fresh bucket on the worker's moto server; ``AWS_*`` point botocore and s3fs at it.

    Dummy credentials, and no shared config or credentials file, so nothing on the machine
    (a real profile) is read or reached. fsspec caches filesystem instances (with their
    endpoint and credentials), so the cache is cleared before and after.
    """
    import s3fs

    request = urllib.request.Request(f"{moto_s3}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:  # forget earlier tests' buckets
        assert answer.status == 200
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_s3)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_s3)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    bucket = S3Bucket(name=f"botpenguin-{uuid.uuid4().hex[:12]}", fs=fs)
    fs.mkdir(bucket.name)
    try:
        yield bucket
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
