"""The layers hold: the core and the sandbox never load Prefect, nor does the bare package.

Each check runs in a fresh interpreter, since this test session has long imported Prefect.
The per-module checks share one: it imports the pack's third-party dependencies (never
Prefect, which it checks), then forks a child per module, so each module is imported alone
into a ``sys.modules`` that holds none of the pack, at the cost of a fork and of that module,
not of an interpreter and its dependencies (one subprocess per module made this file the
unit tier's slowest).
The modules are enumerated, not listed, so a new core module is checked the day it lands.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import pytest

import prefect_botpenguin
import prefect_botpenguin.core
import prefect_botpenguin.flows
import prefect_botpenguin.sandbox

PREFECT_FREE_PACKAGES = (prefect_botpenguin.core, prefect_botpenguin.sandbox)
NO_PREFECT = (
    "import sys; loaded = sorted(m for m in sys.modules if m == 'prefect' "
    "or m.startswith('prefect.')); print(' '.join(loaded))"
)


def prefect_free_modules() -> list[str]:
    """Every module of the core and the sandbox, and the two packages themselves.

    ``__main__`` is left out (importing it runs the CLI); ``python -m`` checks it below.
    """
    modules = []
    for package in PREFECT_FREE_PACKAGES:
        modules.append(package.__name__)
        modules.extend(
            info.name
            for info in pkgutil.iter_modules(package.__path__, prefix=f"{package.__name__}.")
            if not info.name.endswith(".__main__")
        )
    return modules


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, check=False
    )


def prefect_modules_in_importtime(stderr: str) -> list[str]:
    """Module names ``-X importtime`` reports that are Prefect's (not prefect_botpenguin)."""
    names = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name == "prefect" or name.startswith("prefect."):
                names.append(name)
    return names


def test_the_enumeration_finds_the_core_and_sandbox_modules():
    modules = prefect_free_modules()
    assert "prefect_botpenguin.core.client" in modules
    assert "prefect_botpenguin.core.settings" in modules
    assert "prefect_botpenguin.sandbox.server" in modules


FORK_PER_MODULE = """
import importlib, json, os, sys

def prefect_loaded():
    return sorted(m for m in sys.modules if m == "prefect" or m.startswith("prefect."))

# The pack's own non-Prefect dependencies, imported once before the forks so each child pays
# for its module alone. If one of them loaded Prefect, the assert below would say so.
for dependency in (
    "httpx", "pydantic", "pydantic_settings", "sqlalchemy.ext.asyncio",
    "sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.sqlite", "fsspec", "yaml",
    "rich.progress",
):
    importlib.import_module(dependency)
assert prefect_loaded() == [], prefect_loaded()
for module in sys.argv[1:]:
    read, write = os.pipe()
    if os.fork() == 0:
        os.close(read)
        try:
            importlib.import_module(module)
            answer = {"loaded": prefect_loaded()}
        except BaseException as error:
            answer = {"error": repr(error)}
        os.write(write, json.dumps(answer).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        body = pipe.read()
    os.wait()
    print(json.dumps({module: json.loads(body or b'{"error": "the child died"}')}))
"""
"""Runs in a fresh interpreter that has loaded nothing of the pack: one forked child per
module named in argv imports that module alone and reports the Prefect modules it loaded."""


@pytest.fixture(scope="module")
def imports_alone() -> dict[str, dict[str, object]]:
    """What importing each core and sandbox module alone loaded, from one fresh interpreter."""
    result = run_python("-c", FORK_PER_MODULE, *prefect_free_modules())
    assert result.returncode == 0, result.stderr
    answers: dict[str, dict[str, object]] = {}
    for line in result.stdout.splitlines():
        answers.update(json.loads(line))
    return answers


@pytest.mark.parametrize("module", prefect_free_modules())
def test_core_and_sandbox_modules_import_without_prefect(module, imports_alone):
    answer = imports_alone[module]
    assert "error" not in answer, f"importing {module} failed: {answer.get('error')}"
    assert answer["loaded"] == [], f"importing {module} loaded {answer['loaded']}"


def test_the_fork_probe_sees_a_module_that_loads_prefect(tmp_path, monkeypatch):
    """The probe is not blind: a module that loads Prefect is reported, the next one is clean.

    The stand-in registers a ``prefect`` module the way an import would, without the cost.
    """
    (tmp_path / "loads_prefect.py").write_text(
        "import sys, types\nsys.modules['prefect.client'] = types.ModuleType('prefect.client')\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    result = run_python("-c", FORK_PER_MODULE, "loads_prefect", "json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [{"loads_prefect": {"loaded": ["prefect.client"]}}, {"json": {"loaded": []}}]


def test_importtime_of_the_client_shows_no_prefect_module():
    result = run_python("-X", "importtime", "-c", "import prefect_botpenguin.core.client")
    assert result.returncode == 0, result.stderr
    assert "prefect_botpenguin.core.client" in result.stderr  # the report is really there
    assert prefect_modules_in_importtime(result.stderr) == []


def test_the_sandbox_help_starts_without_importing_prefect():
    result = run_python("-X", "importtime", "-m", "prefect_botpenguin.sandbox", "--help")
    assert result.returncode == 0, result.stderr
    assert "usage" in result.stdout.lower()
    assert prefect_modules_in_importtime(result.stderr) == []


def test_importing_the_package_alone_loads_no_prefect():
    result = run_python("-c", f"import prefect_botpenguin; {NO_PREFECT}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("package", [prefect_botpenguin, prefect_botpenguin.flows])
def test_every_public_name_resolves(package):
    module = importlib.import_module(package.__name__)
    missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert missing == []
    assert set(module.__all__) <= set(dir(module))
