"""The reference pages cover the public API, and the README stays a front door.

``mkdocs build --strict`` (in .ci/run) fails on an entry that names nothing; these fail on a
public name with no entry, and on a page naming a test that does not exist.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from typing import Any

import prefect_botpenguin
import prefect_botpenguin.flows

ROOT = Path(__file__).resolve().parents[2]
API_PAGES = sorted((ROOT / "docs" / "api").glob("*.md"))
ENTRY = re.compile(r"^::: ([\w.]+)[ \t]*$", re.M)


def _resolve(path: str) -> Any:
    """The object a ``::: path`` entry documents: the longest importable module, then attributes."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr)
        return obj
    raise AssertionError(f"{path} names no module")


def _documented() -> list[Any]:
    return [_resolve(path) for page in API_PAGES for path in ENTRY.findall(page.read_text("utf-8"))]


def test_every_public_name_has_an_api_page_entry():
    documented = _documented()
    missing = [
        f"{module.__name__}.{name}"
        for module in (prefect_botpenguin, prefect_botpenguin.flows)
        for name in module.__all__
        if not any(getattr(module, name) is obj for obj in documented)
    ]
    assert missing == [], f"no ::: entry in docs/api/ for {missing}"


def test_the_api_pages_are_in_the_site_navigation():
    nav = (ROOT / "mkdocs.yml").read_text("utf-8")
    assert API_PAGES
    for page in API_PAGES:
        assert f"api/{page.name}" in nav, page.name


def test_every_test_a_page_names_exists():
    """The Reliability page cites the test behind each claim; a renamed test breaks the claim."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    cited = {
        (file, name)
        for page in pages
        for file, name in re.findall(r"(tests/[\w/]+\.py)::(test_\w+)", page.read_text("utf-8"))
    }
    assert cited
    missing = []
    for file, name in sorted(cited):
        tree = ast.parse((ROOT / file).read_text("utf-8"))
        defined = {
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        if name not in defined:
            missing.append(f"{file}::{name}")
    assert missing == []


def test_the_readme_is_a_front_door():
    readme = (ROOT / "README.md").read_text("utf-8")
    assert len(readme.splitlines()) < 200
    commands = re.findall(r"```bash\n(.*?)```", readme, re.S)
    assert commands == [
        "uv run botpenguin report --sandbox   # the main job, offline, on invented SAMPLE DATA\n"
        "uv run pytest                        # the test suite (starts every service it needs)\n"
    ]
