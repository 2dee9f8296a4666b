"""The lean paths stay lean: what the core client imports, and the collector pause.

Timings belong to BENCHMARKS.md (row d), never to a test; these check the causes found there
(benchmarks/NOTES.md, items 9 and 10) do not come back.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys

import pytest

from prefect_botpenguin.core import endpoint, settings
from prefect_botpenguin.core.gcpause import gc_paused


def _loaded_after(statement: str, modules: tuple[str, ...]) -> list[str]:
    probe = (
        f"import json, sys; {statement}; "
        f"print(json.dumps([m for m in {modules!r} if m in sys.modules]))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return list(json.loads(completed.stdout.strip().splitlines()[-1]))


def test_importing_the_core_client_does_not_load_pydantic_settings():
    loaded = _loaded_after("import prefect_botpenguin.core.client", ("pydantic_settings",))
    assert loaded == []


def test_reading_settings_still_loads_pydantic_settings_and_works(monkeypatch):
    monkeypatch.setenv("BOTPENGUIN_BASE_URL", "http://127.0.0.1:9/")
    assert settings.load_settings().base_url == "http://127.0.0.1:9"


def test_settings_keeps_its_public_names():
    for name in ("DEFAULT_BASE_URL", "clean_token", "is_loopback_host", "validate_base_url"):
        assert getattr(settings, name) is getattr(endpoint, name)


def test_gc_paused_disables_the_collector_and_restores_it():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # nested: the inner one leaves the outer one's pause alone
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_gc_paused_restores_the_collector_after_an_error():
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_gc_paused_leaves_a_disabled_collector_disabled():
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
