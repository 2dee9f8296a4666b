"""Every third-party module the package imports comes from a dependency pyproject declares.

An undeclared import works here only because something else (Prefect, the dev group) happens
to pull it in; a user's fresh environment may not have it, or may get a version we never ran.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_FOLDERS = ("tasks", "flows", "deployments")
FIRST_PARTY = {"prefect_botpenguin"}


def imported_top_level_modules(folders: tuple[str, ...] = PACKAGE_FOLDERS) -> dict[str, str]:
    """Absolute imports anywhere in the package's sources (lazy ones too): module -> a file."""
    found: dict[str, str] = {}
    for folder in folders:
        for source in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(source.relative_to(ROOT)))
    return found


def declared_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {canonicalize_name(Requirement(line).name) for line in project["dependencies"]}


def test_the_import_scan_sees_lazy_imports_inside_functions():
    # notifications.py imports apprise inside a function; the scan must not miss it.
    assert "apprise" in imported_top_level_modules()


def test_every_third_party_import_is_a_declared_dependency():
    declared = declared_distributions()
    providers = packages_distributions()
    undeclared = []
    for module, where in sorted(imported_top_level_modules().items()):
        if module in sys.stdlib_module_names or module in FIRST_PARTY:
            continue
        distributions = {canonicalize_name(name) for name in providers.get(module, [])}
        if not distributions:
            undeclared.append(f"{module} ({where}): no installed distribution provides it")
        elif not distributions & declared:
            undeclared.append(f"{module} ({where}): add one of {sorted(distributions)}")
    assert not undeclared, "imported but not in [project] dependencies: " + "; ".join(undeclared)
