"""The layers hold: the core and the sandbox never load Prefect, nor does the bare package.

Each check runs in a fresh interpreter, since this test session has long imported Prefect.
The modules are enumerated, not listed, so a new core module is checked the day it lands.
"""

from __future__ import annotations

import importlib
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


@pytest.mark.parametrize("module", prefect_free_modules())
def test_core_and_sandbox_modules_import_without_prefect(module):
    result = run_python("-c", f"import {module}; {NO_PREFECT}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"importing {module} loaded {result.stdout.strip()}"


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
