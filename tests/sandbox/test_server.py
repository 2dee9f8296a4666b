"""The sandbox must behave like BotPenguin over real HTTP, or integration tests prove nothing."""

from __future__ import annotations

import asyncio
import http.client
import json
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prefect_botpenguin.sandbox import (
    INVALID_OBJECT_ID_MESSAGE,
    SAMPLE_SEGMENTS,
    SANDBOX_TOKEN,
    Fault,
    SandboxServer,
)
from prefect_botpenguin.sandbox.cli import main

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HEX24 = re.compile(r"[0-9a-f]{24}")


def auth_headers(token: str = SANDBOX_TOKEN, authtype: str | None = "Key") -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if authtype is not None:
        headers["authtype"] = authtype
    return headers


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=5) as http:
        yield http


# -- sample data ----------------------------------------------------------------------------


def test_sample_data_is_well_formed() -> None:
    assert 5 <= len(SAMPLE_SEGMENTS) <= 8
    customers = {segment["_customer"] for segment in SAMPLE_SEGMENTS}
    assert len(customers) == 1
    assert all(HEX24.fullmatch(c) for c in customers)
    ids = [segment["_id"] for segment in SAMPLE_SEGMENTS]
    assert len(set(ids)) == len(ids)
    assert all(HEX24.fullmatch(i) for i in ids)
    names = [segment["segmentName"] for segment in SAMPLE_SEGMENTS]
    assert any(not name.isascii() for name in names)
    assert any("," in n and '"' in n and "\n" in n for n in names)
    assert sum("archivedReason" in segment for segment in SAMPLE_SEGMENTS) == 1


def test_segments_served_in_envelope(sandbox: SandboxServer, client: httpx.Client) -> None:
    response = client.get("/inbox/segments", headers=auth_headers())

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"success": True, "message": "", "data": SAMPLE_SEGMENTS, "code": 200}
    names = [segment["segmentName"] for segment in response.json()["data"]]
    assert "Clientes de São Paulo" in names
    assert "Café ☕ lovers" in names
    assert "São Paulo".encode() in response.content  # UTF-8 on the wire, not \u escapes
    assert sandbox.token == SANDBOX_TOKEN


def test_keep_alive_reuses_one_connection(sandbox: SandboxServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=5)
    try:
        conn.request("GET", "/inbox/segments", headers=auth_headers())
        first = conn.getresponse()
        first.read()
        sock = conn.sock
        conn.request("GET", "/inbox/segments", headers=auth_headers())
        second = conn.getresponse()
        assert json.loads(second.read())["code"] == 200
        assert first.version == 11
        assert sock is not None
        assert conn.sock is sock  # http.client would have reconnected if the server closed
    finally:
        conn.close()


def test_accounts_are_isolated_and_editable() -> None:
    other = "0123456789abcdef01234567"
    server = SandboxServer(accounts={"tok-a": SAMPLE_SEGMENTS[:1], other: []})
    with server, httpx.Client(base_url=server.url) as http:
        assert server.token == "tok-a"
        a = http.get("/inbox/segments", headers=auth_headers("tok-a")).json()
        b = http.get("/inbox/segments", headers=auth_headers(other)).json()
        assert a["data"] == SAMPLE_SEGMENTS[:1]
        assert b == {"success": True, "message": "", "data": [], "code": 200}
        server.set_segments([{"_id": "x", "_customer": "y", "segmentName": "z"}])
        again = http.get("/inbox/segments", headers=auth_headers("tok-a")).json()
        assert again["data"] == [{"_id": "x", "_customer": "y", "segmentName": "z"}]
    assert SAMPLE_SEGMENTS[0]["_id"] != "x"  # the module constant was not mutated


# -- auth rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        pytest.param({"authtype": "Key"}, 401, "Unauthorized", id="no-authorization"),
        pytest.param(auth_headers(authtype=None), 401, "Unauthorized", id="no-authtype"),
        pytest.param(auth_headers(authtype="Bearer"), 401, "Unauthorized", id="wrong-authtype"),
        pytest.param(
            auth_headers("0123456789abcdef01234567"), 401, "Invalid token", id="unknown-24hex"
        ),
        pytest.param(
            auth_headers("not-a-real-token"), 400, INVALID_OBJECT_ID_MESSAGE, id="malformed"
        ),
    ],
)
def test_auth_rules(
    client: httpx.Client, headers: dict[str, str], status: int, message: str
) -> None:
    response = client.get("/inbox/segments", headers=headers)

    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"success": False, "message": message, "data": [], "code": status}


def test_malformed_token_message_is_exact() -> None:
    assert INVALID_OBJECT_ID_MESSAGE == (
        "Argument passed in must be a single String of 12 bytes or a string of 24 hex characters"
    )


def test_unknown_path_and_wrong_method(client: httpx.Client) -> None:
    missing = client.get("/inbox/nope", headers=auth_headers())
    wrong = client.post("/inbox/segments", headers=auth_headers(), json={"a": 1})

    assert missing.status_code == 404
    assert missing.json()["success"] is False
    assert missing.json()["code"] == 404
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET"
    assert wrong.json()["code"] == 405
    # The POST body was consumed: the same connection still serves the next request.
    assert client.get("/inbox/segments", headers=auth_headers()).status_code == 200


# -- faults ---------------------------------------------------------------------------------


def test_faults_consumed_in_order(sandbox: SandboxServer, client: httpx.Client) -> None:
    sandbox.inject(Fault.status_code(503), Fault.retry_after(429, "1"))

    first = client.get("/inbox/segments", headers=auth_headers())
    second = client.get("/inbox/segments", headers=auth_headers())
    third = client.get("/inbox/segments", headers=auth_headers())

    assert first.status_code == 503
    assert first.json() == {
        "success": False,
        "message": "Service Unavailable",
        "data": [],
        "code": 503,
    }
    assert second.status_code == 429
    assert second.headers["retry-after"] == "1"
    assert second.json()["code"] == 429
    assert third.status_code == 200
    assert third.json()["data"] == SAMPLE_SEGMENTS
    assert sandbox.request_count == 3
    records = sandbox.requests
    assert [r.status for r in records] == [503, 429, 200]
    assert all(r.had_auth and r.method == "GET" for r in records)
    assert records[0].at <= records[1].at <= records[2].at
    assert SANDBOX_TOKEN not in repr(records)


def test_fault_answers_before_auth(sandbox: SandboxServer, client: httpx.Client) -> None:
    sandbox.inject(Fault.status_code(502), Fault(status=200))

    unauthenticated = client.get("/inbox/segments")
    scripted_ok = client.get("/inbox/segments")

    assert unauthenticated.status_code == 502
    assert scripted_ok.json()["data"] == SAMPLE_SEGMENTS
    assert [r.had_auth for r in sandbox.requests] == [False, False]


def test_malformed_and_custom_bodies(sandbox: SandboxServer, client: httpx.Client) -> None:
    sandbox.inject(
        Fault.malformed(b"<html>oops</html>"),
        Fault(status=400, body={"success": False, "message": "x", "data": ["a", "b"], "code": 400}),
    )

    html = client.get("/inbox/segments", headers=auth_headers())
    custom = client.get("/inbox/segments", headers=auth_headers())

    assert html.status_code == 200
    assert html.headers["content-type"] == "text/html"
    assert html.content == b"<html>oops</html>"
    assert custom.json()["data"] == ["a", "b"]


def test_fault_latency_and_global_latency(sandbox: SandboxServer, client: httpx.Client) -> None:
    sandbox.inject(Fault(latency=0.2))
    start = time.monotonic()
    client.get("/inbox/segments", headers=auth_headers())
    assert time.monotonic() - start >= 0.2

    sandbox.set_latency(0.1)
    start = time.monotonic()
    client.get("/inbox/segments", headers=auth_headers())
    assert time.monotonic() - start >= 0.1


@pytest.mark.parametrize("fault", [Fault.dropped(), Fault.truncated()], ids=["drop", "truncate"])
def test_transport_faults(sandbox: SandboxServer, client: httpx.Client, fault: Fault) -> None:
    sandbox.inject(fault)

    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get("/inbox/segments", headers=auth_headers())

    # The server survives and the client recovers on a fresh connection.
    assert client.get("/inbox/segments", headers=auth_headers()).status_code == 200
    assert [r.status for r in sandbox.requests] == [None if fault.drop else 200, 200]


def test_reset_clears_faults_and_stats(sandbox: SandboxServer, client: httpx.Client) -> None:
    sandbox.inject(Fault.status_code(500), Fault.status_code(500))
    client.get("/inbox/segments", headers=auth_headers())

    sandbox.reset()

    assert sandbox.request_count == 0
    assert sandbox.requests == []
    assert client.get("/inbox/segments", headers=auth_headers()).status_code == 200


@pytest.mark.parametrize(
    "fault",
    [
        Fault(),
        Fault.status_code(503),
        Fault.retry_after(429, "2"),
        Fault.malformed(b"<html>\xff</html>"),
        Fault.malformed("plain text", content_type="text/plain"),
        Fault(status=418, body={"nested": {"ok": [1, 2.5, None]}}, latency=0.5),
        Fault.dropped(),
        Fault.truncated(500),
    ],
)
def test_fault_dict_round_trip(fault: Fault) -> None:
    assert Fault.from_dict(json.loads(json.dumps(fault.to_dict()))) == fault


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="unknown fault field"):
        Fault.from_dict({"stauts": 503})
    with pytest.raises(ValueError, match="drop or truncate"):
        Fault(drop=True, truncate=True)
    with pytest.raises(ValueError, match="managed by the sandbox"):
        Fault(headers={"Content-Length": "1"})
    with pytest.raises(ValueError, match="200-599"):
        Fault(status=99)


# -- control endpoints ----------------------------------------------------------------------


def test_control_endpoints(sandbox: SandboxServer, client: httpx.Client) -> None:
    faults = [Fault.status_code(503).to_dict(), Fault.malformed(b"<p>hi</p>").to_dict()]
    queued = client.post("/_sandbox/faults", json=faults)
    assert queued.json() == {"queued": 2, "pending": 2}

    assert client.get("/inbox/segments", headers=auth_headers()).status_code == 503
    assert client.get("/inbox/segments", headers=auth_headers()).content == b"<p>hi</p>"

    stats = client.get("/_sandbox/stats").json()
    assert stats["requests"] == 2
    assert stats["max_in_flight"] == 1
    assert [(e["method"], e["path"], e["status"]) for e in stats["log"]] == [
        ("GET", "/inbox/segments", 503),
        ("GET", "/inbox/segments", 200),
    ]
    assert sandbox.request_count == 2  # control requests are not counted

    bad = client.post("/_sandbox/faults", json=[{"status": "soon"}])
    assert bad.status_code == 400
    assert client.post("/_sandbox/reset").json() == {"reset": True}
    assert client.get("/_sandbox/stats").json()["requests"] == 0
    assert client.get("/_sandbox/nope").status_code == 404


# -- concurrency and lifecycle ---------------------------------------------------------------


async def test_max_in_flight_under_concurrency() -> None:
    with SandboxServer(latency=0.3) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
            responses = await asyncio.gather(
                *(http.get("/inbox/segments", headers=auth_headers()) for _ in range(5))
            )
        assert all(r.status_code == 200 for r in responses)
        assert server.request_count == 5
        assert server.max_in_flight > 1


def test_stop_cuts_keep_alive_connections() -> None:
    server = SandboxServer().start()
    with httpx.Client(base_url=server.url, timeout=2) as http:
        assert http.get("/inbox/segments", headers=auth_headers()).status_code == 200
        server.stop()
        with pytest.raises(httpx.TransportError):
            http.get("/inbox/segments", headers=auth_headers())
    server.stop()  # idempotent


def test_refuses_non_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="loopback"):
        SandboxServer("0.0.0.0")

    assert main(["--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "loopback" in err


def test_cli_serves_and_exits_cleanly() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect_botpenguin.sandbox", "--port", "0"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        line = lines.get(timeout=10)
        match = re.search(r"on (http://127\.0\.0\.1:\d+)\s+token: (\S+)", line)
        assert match, line
        assert "sample data" in line
        url, token = match.groups()
        assert token == SANDBOX_TOKEN

        response = httpx.get(f"{url}/inbox/segments", headers=auth_headers(token), timeout=5)
        assert response.json()["data"] == SAMPLE_SEGMENTS

        process.terminate()
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
