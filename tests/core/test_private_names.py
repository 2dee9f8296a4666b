"""Private names live in one module: ``prefect_botpenguin._compat``, with a reason each.

Every other module of the pack (tasks/, flows/, deployments/) is parsed; any import of a
``prefect._internal`` module, any ``from x import _name`` from outside the pack and any read
of ``obj._name`` on something other than ``self``/``cls`` fails the test, so a private name
cannot slip in where nobody will look for it when Prefect moves it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from prefect_botpenguin import _compat

ROOT = Path(__file__).resolve().parents[2]
PACK_DIRS = ("tasks", "flows", "deployments")
SHIM = ROOT / "tasks" / "_compat.py"


def pack_modules() -> list[Path]:
    return sorted(p for d in PACK_DIRS for p in (ROOT / d).rglob("*.py") if p != SHIM)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def own_private_names(paths: list[Path]) -> set[str]:
    """Private names the pack defines itself (methods, attributes it assigns, fields)."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return {n for n in names if _private(n)}


def private_uses(source: str, own: frozenset[str] = frozenset()) -> list[str]:
    """``line: what`` for each private name of someone else's that the source touches."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names if "_internal" in a.name.split(".")]
            found += [f"{node.lineno}: import {name}" for name in names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if "_internal" in node.module.split("."):
                found.append(f"{node.lineno}: from {node.module}")
            found += [
                f"{node.lineno}: from {node.module} import {a.name}"
                for a in node.names
                if _private(a.name)
            ]
        elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
            found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("getattr", "hasattr"):
            arg = node.args[1] if len(node.args) > 1 else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and _private(arg.value):
                found.append(f"{node.lineno}: getattr(..., {arg.value!r})")
    return found


def test_the_scan_finds_the_pack_and_catches_each_kind_of_private_use():
    assert len(pack_modules()) > 30
    caught = private_uses(
        "from prefect._internal.compatibility import x\n"
        "import prefect._internal.y\n"
        "from prefect.filesystems import _helper\n"
        "block._block_document_name\n"
        "getattr(block, '_is_anonymous')\n"
        "self._mine = 1; x.__class__\n",
        own=frozenset({"_mine"}),
    )
    assert [line.split(":")[0] for line in caught] == ["1", "2", "3", "4", "5"]


OWN = frozenset(own_private_names(pack_modules()))


@pytest.mark.parametrize("path", pack_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_but_the_shim_uses_a_private_name(path):
    uses = private_uses(path.read_text(encoding="utf-8"), OWN)
    assert not uses, f"{path.relative_to(ROOT)} uses private names; go through _compat: {uses}"


def test_the_shim_gives_a_reason_for_each_private_name_it_reads():
    shim_uses = private_uses(SHIM.read_text(encoding="utf-8"))
    listed = " ".join(_compat.PRIVATE_NAMES)
    for use in shim_uses:
        name = use.split()[-1].lstrip(".").split(".")[-1]
        assert name.lstrip("_") in listed, f"{use} is not listed in PRIVATE_NAMES"
    assert all(len(reason) > 40 for reason in _compat.PRIVATE_NAMES.values())
