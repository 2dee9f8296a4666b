"""TLS trust against a real HTTPS server on loopback whose certificate a test CA signed."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from prefect_botpenguin.core.client import BotPenguinClient
from prefect_botpenguin.core.errors import ConfigurationError, TLSCertificateError
from prefect_botpenguin.core.retry import RetryPolicy
from prefect_botpenguin.core.settings import load_settings

TOKEN = "0123456789abcdef01234567"
BODY = json.dumps({"success": True, "data": [{"_id": "a1", "segmentName": "Tea"}]}).encode()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context
        self.handshakes = 0

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        self.handshakes += 1
        return self.context.wrap_socket(sock, server_side=True), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a refused handshake is the point of some tests


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server(ca: trustme.CA) -> Iterator[_TLSServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    httpd = _TLSServer(context)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "corporate-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def url(server: _TLSServer) -> str:
    return f"https://127.0.0.1:{server.server_address[1]}"


async def test_an_untrusted_certificate_is_named_and_not_retried(
    server: _TLSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    client = BotPenguinClient(
        TOKEN, base_url=url(server), retry_policy=RetryPolicy(max_attempts=4), sleep=sleep
    )
    with pytest.raises(TLSCertificateError) as raised:
        async with client:
            await client.get_segments()

    message = str(raised.value)
    assert "TLS certificate" in message
    assert "not trusted" in message
    assert "BOTPENGUIN_CA_BUNDLE" in message
    assert "reachable" not in message
    assert TOKEN not in message
    assert waits == [], "no client-level retry"
    assert server.handshakes == 1
    assert raised.value.retryable is False, "the fetch task's retry filter will not retry it"


async def test_a_ca_bundle_makes_the_certificate_trusted(server: _TLSServer, ca_file: Path) -> None:
    async with BotPenguinClient(TOKEN, base_url=url(server), ca_bundle=ca_file) as client:
        [segment] = await client.get_segments()
    assert segment.name == "Tea"


async def test_botpenguin_ca_bundle_setting_is_wired_into_the_client(
    server: _TLSServer, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOTPENGUIN_CA_BUNDLE", str(ca_file))
    monkeypatch.setenv("BOTPENGUIN_API_TOKEN", TOKEN)
    monkeypatch.setenv("BOTPENGUIN_BASE_URL", url(server))
    assert load_settings().ca_bundle == str(ca_file)

    async with BotPenguinClient.from_settings() as client:
        assert len(await client.get_segments()) == 1


async def test_ssl_cert_file_is_honoured_as_documented(
    server: _TLSServer, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    async with BotPenguinClient(TOKEN, base_url=url(server)) as client:
        assert len(await client.get_segments()) == 1


def test_an_unreadable_ca_bundle_is_a_configuration_error(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="BOTPENGUIN_CA_BUNDLE"):
        BotPenguinClient(TOKEN, base_url="https://127.0.0.1:1", ca_bundle=not_pem)
    with pytest.raises(ConfigurationError, match="No such file"):
        BotPenguinClient(TOKEN, base_url="https://127.0.0.1:1", ca_bundle=tmp_path / "missing")
