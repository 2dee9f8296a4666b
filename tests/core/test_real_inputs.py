"""What real machines send: compressed and chunked answers, a server that drips, odd base URLs,
tokens pasted with junk, proxies in the environment, and signals in the middle of a run.

Each case counts the requests that reached the sandbox, so "not retried" is checked, not assumed.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx

from prefect_botpenguin.core.client import BotPenguinClient
from prefect_botpenguin.core.errors import (
    APITimeoutError,
    BotPenguinError,
    ConfigurationError,
    MissingTokenError,
    ResponseError,
)
from prefect_botpenguin.core.retry import RetryPolicy
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS, Fault, SandboxServer

pytestmark = pytest.mark.integration

BOTPENGUIN = str(Path(sys.executable).with_name("botpenguin"))
FAST = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_cap=0.02, deadline=10)


def fetch(server: SandboxServer, **options: object) -> list[object]:
    async def go() -> list[object]:
        options.setdefault("retry_policy", FAST)
        async with BotPenguinClient(server.token, base_url=server.url, **options) as client:
            return list(await client.get_segments())

    return asyncio.run(go())


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault(gzip=True), id="gzip"),
        pytest.param(Fault(chunked=True), id="chunked"),
        pytest.param(Fault(gzip=True, chunked=True), id="gzip+chunked"),
    ],
)
def test_compressed_and_chunked_answers_are_read_in_one_request(sandbox, fault):
    sandbox.inject(fault)
    assert len(fetch(sandbox)) == len(SAMPLE_SEGMENTS)
    assert len(sandbox.requests) == 1


def test_a_body_that_claims_gzip_but_is_not_is_one_clear_error_not_retried(sandbox):
    sandbox.inject(Fault(headers={"Content-Encoding": "gzip"}))
    with pytest.raises(ResponseError, match=r"could not be decoded.*proxy") as caught:
        fetch(sandbox)
    assert "\n" not in str(caught.value)
    assert len(sandbox.requests) == 1


def test_a_server_that_drips_its_answer_is_stopped_by_the_deadline(sandbox):
    """Each byte arrives within the read timeout, so only the overall deadline can stop it."""
    sandbox.inject(Fault(drip=0.05))
    policy = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_cap=0.02, deadline=1.5)
    started = time.monotonic()
    with pytest.raises(APITimeoutError):
        fetch(sandbox, retry_policy=policy, read_timeout=1.0)
    # Dripped whole, the ~2.7 kB answer takes over two minutes; the bound leaves a loaded
    # machine room without letting that (or a second attempt) pass.
    assert time.monotonic() - started < 1.5 + 8.0
    assert len(sandbox.requests) == 1  # the deadline was spent: no second attempt


@pytest.mark.parametrize(
    ("given", "requested"),
    [
        ("https://api.example.test/", "https://api.example.test/inbox/segments"),
        ("https://api.example.test/v7/", "https://api.example.test/v7/inbox/segments"),
        ("  https://api.example.test/v7  ", "https://api.example.test/v7/inbox/segments"),
        ("\thttps://api.example.test\n", "https://api.example.test/inbox/segments"),
    ],
)
def test_base_urls_with_slashes_prefixes_and_white_space_reach_the_right_path(given, requested):
    with respx.mock(assert_all_called=True) as mock:
        route = mock.get(requested).respond(200, json={"success": True, "data": []})
        asyncio.run(_fetch_with(given, "a" * 24))
    assert route.call_count == 1


async def _fetch_with(base_url: str, token: str) -> list[object]:
    async with BotPenguinClient(token, base_url=base_url, retry_policy=FAST) as client:
        return list(await client.get_segments())


def test_ipv6_loopback_base_url_works():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        server = SandboxServer("::1", 0)
    except OSError as exc:
        pytest.skip(f"cannot listen on ::1 here: {exc}")
    with server:
        assert server.url.startswith("http://[::1]:")
        assert len(fetch(server)) == len(SAMPLE_SEGMENTS)


def test_a_token_read_from_a_file_keeps_no_trailing_newline():
    with respx.mock(assert_all_called=True) as mock:
        route = mock.get("https://api.example.test/inbox/segments").respond(
            200, json={"success": True, "data": []}
        )
        asyncio.run(_fetch_with("https://api.example.test", "a" * 24 + "\n"))
    assert route.calls.last.request.headers["authorization"] == "Bearer " + "a" * 24


@pytest.mark.parametrize(
    ("token", "named"),
    [
        ("\u201c" + "a" * 24 + "\u201d", "LEFT DOUBLE QUOTATION MARK"),
        ("a" * 12 + "\n" + "a" * 12, "U+000A"),
        ('"' + "a" * 24 + '"', "QUOTATION MARK"),
        ("a" * 12 + " " + "a" * 12, "SPACE"),
    ],
)
def test_a_pasted_token_with_quotes_or_line_breaks_is_refused_before_anything_is_sent(token, named):
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(url__regex=r".*").respond(200, json={"success": True, "data": []})
        with pytest.raises(ConfigurationError, match=re.escape(named)) as caught:
            asyncio.run(_fetch_with("https://api.example.test", token))
    assert route.call_count == 0
    assert "a" * 12 not in str(caught.value), "the message never repeats the token"


def test_an_empty_token_after_stripping_is_missing():
    with pytest.raises(MissingTokenError):
        asyncio.run(_fetch_with("https://api.example.test", " \n"))


class RecordingProxy:
    """A TCP listener that records the first bytes of every connection, then hangs up."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.received: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    self.received.append(connection.recv(65536))
                except OSError:
                    self.received.append(b"")

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    recorder = RecordingProxy()
    try:
        yield recorder
    finally:
        recorder.close()


def test_a_proxy_in_the_environment_never_sees_a_loopback_request(sandbox, proxy, monkeypatch):
    """Plain HTTP is allowed only on loopback; through a proxy the token would cross in clear."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert len(fetch(sandbox)) == len(SAMPLE_SEGMENTS)
    assert proxy.received == []


def test_an_https_proxy_only_ever_gets_a_tunnel_request_without_the_token(proxy, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    token = "b" * 24
    with pytest.raises(BotPenguinError) as caught:  # the recording proxy hangs up: no answer
        asyncio.run(_fetch_with("https://api.example.test", token))
    assert token not in str(caught.value)
    assert proxy.received, "the request went through the configured proxy"
    assert all(chunk.startswith(b"CONNECT api.example.test:443") for chunk in proxy.received)
    assert not any(token.encode() in chunk for chunk in proxy.received)


@pytest.mark.e2e  # the command in a second interpreter, signalled: end-to-end by nature
@pytest.mark.parametrize(
    ("signum", "exit_code", "named"),
    [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")],
)
def test_a_signal_mid_export_exits_with_one_line_and_leaves_no_temporary_file(
    tmp_path, prefect_api_url, signum, exit_code, named
):
    target = tmp_path / "out" / "segments.csv"
    target.parent.mkdir()
    target.write_text("previous good export\n", encoding="utf-8")
    with SandboxServer(latency=30.0) as slow:  # the request is in flight when the signal comes
        env = {
            **os.environ,
            "PREFECT_API_URL": prefect_api_url,
            "BOTPENGUIN_BASE_URL": slow.url,
            "BOTPENGUIN_API_TOKEN": slow.token,
        }
        with subprocess.Popen(
            [BOTPENGUIN, "export", "--to", str(target)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            deadline = time.monotonic() + 60
            while not slow.requests and time.monotonic() < deadline:
                time.sleep(0.1)
            assert slow.requests, "the export never reached the API"
            process.send_signal(signum)
            _, stderr = process.communicate(timeout=60)
    assert process.returncode == exit_code, stderr
    # Prefect's own log records ("12:00:00.123 | WARNING | EventsWorker - ...") may follow,
    # while its workers drain at exit; the command's own output is the one line.
    prefect_log = re.compile(r"^\d\d:\d\d:\d\d\.\d+ \| ")
    lines = [line for line in stderr.splitlines() if line.strip() and not prefect_log.match(line)]
    assert lines[-1].startswith(f"Stopped by {named}")
    assert "Traceback" not in stderr
    assert target.read_text(encoding="utf-8") == "previous good export\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["segments.csv"]
