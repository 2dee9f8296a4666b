"""Which tests must share one pytest-xdist worker (``--dist loadgroup`` in pyproject's addopts).

A session or module fixture is created once per worker. That is right for the Prefect test
harness (one per worker, each on its own port and database), but not for the services the
e2e tier starts once per session (the README's sandbox and server stacks, Chromium, the built
wheel), nor for a module fixture that starts processes for the whole module (two ephemeral
servers in ``test_export_flow.py``): split across workers, they would start twice and
compete for the two cores. So every test that uses such a fixture is put in an
``xdist_group``; the other tests are handed out one by one, to whichever worker is free.
"""

from __future__ import annotations

import os

import pytest

PER_WORKER = frozenset({"prefect_harness", "prefect_api_url", "moto_s3"})
"""Our session fixtures that each worker may have its own of (plugins' ones all may)."""

SESSION_GROUPS = {"installed_wheel": "wheel", "built_wheel": "wheel"}
"""Session fixtures with a group of their own; any other goes to ``SHARED_SERVICES``."""

SHARED_SERVICES = "shared-services"
"""The e2e tier's session services (sandbox, stacks, Chromium), on one worker together."""


def xdist_group(item: pytest.Item) -> str | None:
    """The group ``item`` must run in, or None if any worker may run it."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    # Only fixtures defined under tests/: a plugin's (pytest-asyncio's loop policy,
    # tmp_path_factory) is cheap and meant to exist once per process.
    scopes = {
        name: defs[-1].scope
        for name, defs in info.name2fixturedefs.items()
        if defs and defs[-1].baseid.startswith("tests")
    }
    shared = [n for n, scope in scopes.items() if scope == "session" and n not in PER_WORKER]
    groups = {SESSION_GROUPS.get(name, SHARED_SERVICES) for name in shared}
    if groups:
        return SHARED_SERVICES if SHARED_SERVICES in groups else groups.pop()
    if any(scope in ("module", "package") for scope in scopes.values()):
        return item.path.name
    return None


WORKERS = 2
"""Workers for a run with the e2e tier: it is CPU-bound (servers, workers, Chromium)."""

UNIT_TIER_WORKERS = 4
"""Workers for ``-m "not e2e"``: its tests mostly wait on the session's Prefect test server
and on loopback HTTP (two workers kept two cores half idle), so four overlap those waits
for the price of two more test servers (~8 s CPU each)."""


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (pyproject's addopts): more workers when the e2e tier is left out;
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides when set, as xdist documents."""
    if chosen := os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(chosen)
    unit_tier = "not e2e" in (config.option.markexpr or "")
    return UNIT_TIER_WORKERS if unit_tier else WORKERS


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that must share a worker (a no-op without ``-n``)."""
    for item in items:
        group = xdist_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
