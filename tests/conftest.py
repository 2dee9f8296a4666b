"""Shared fixtures: one Prefect test harness per session, and a sandbox per test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Offline machines: no telemetry, and keep each test session's Prefect home to itself.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from tasks.sandbox import SandboxServer


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect server and SQLite database for every flow test of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A fresh sandbox server on a free loopback port, with the invented sample account."""
    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox_env(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """Point ``BOTPENGUIN_*`` settings at the sandbox for code that reads the environment."""
    monkeypatch.setenv("BOTPENGUIN_BASE_URL", sandbox.url)
    monkeypatch.setenv("BOTPENGUIN_API_TOKEN", sandbox.token)
    monkeypatch.delenv("BOTPENGUIN_ACCOUNT", raising=False)
    return sandbox


@pytest.fixture(scope="session")
def prefect_api_url(prefect_harness: None) -> str:
    """The harness server's API URL, for subprocesses that should report to it."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "the Prefect test harness did not set PREFECT_API_URL"
    return str(url)
