"""The lean paths stay lean: what the core client imports, and the collector pause.

Timings belong to BENCHMARKS.md (row d), never to a test; these check the causes found there
(benchmarks/NOTES.md, items 9 and 10) do not come back, and that the library leaves the
collector alone (it is process-wide: a user's own threads keep allocating).
"""

from __future__ import annotations

import ast
import gc
import json
import subprocess
import sys
from pathlib import Path

import prefect_botpenguin
from prefect_botpenguin.core import endpoint, settings
from prefect_botpenguin.core.formats import serialise
from prefect_botpenguin.core.jsontext import read_json
from prefect_botpenguin.core.models import parse_segments


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


def test_bulk_steps_leave_the_collector_running_for_the_users_threads():
    # The library pauses nothing process-wide: collections keep happening while a large
    # answer is parsed and exported (a pause would show zero).
    seen: list[str] = []

    def record(phase: str, info: dict[str, int]) -> None:
        seen.append(phase)

    segment = {"_id": "s", "segmentName": "n", "filters": [{"field": "f", "value": [1, 2]}]}
    body = json.dumps({"data": [dict(segment, _id=f"s{i}") for i in range(5_000)]}).encode()
    gc.callbacks.append(record)
    try:
        payload, _, _ = read_json(body)
        serialise(parse_segments(payload["data"]), "json")
    finally:
        gc.callbacks.remove(record)
    assert gc.isenabled()
    assert "start" in seen


def test_no_module_of_the_pack_switches_the_collector_off():
    package = Path(prefect_botpenguin.__file__).parent
    calls = {"disable", "freeze", "set_threshold"}
    found = [
        f"{path.relative_to(package)}:{node.lineno}"
        for path in package.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and node.attr in calls
        and isinstance(node.value, ast.Name)
        and node.value.id == "gc"
    ]
    assert found == []
