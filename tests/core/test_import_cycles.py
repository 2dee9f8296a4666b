"""No import cycles in the pack, not even ones hidden by an import inside a function.

The source is read, not imported: every ``import`` of a pack module, at the top or inside a
function (``if TYPE_CHECKING:`` blocks aside, they never run), is an edge, and an edge that
closes a loop fails the test with the loop spelled out.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {
    "tasks": "prefect_botpenguin",
    "flows": "prefect_botpenguin.flows",
    "deployments": "prefect_botpenguin.deployments",
}


def pack_modules() -> dict[str, Path]:
    """Import name -> source file, laid out as the wheel maps the folders."""
    modules = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def _runs(node: ast.AST) -> bool:
    """False for ``if TYPE_CHECKING:`` (its body is for type checkers only)."""
    return not (isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"))


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The pack modules ``name`` imports anywhere in its source (its own packages aside)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    pending: list[ast.AST] = [ast.parse(path.read_text("utf-8"))]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{node.module}" if node.module else anchor
            submodules = [f"{base}.{alias.name}" for alias in node.names]
            candidates = [m for m in submodules if m in modules] or [base]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            candidates = []
        # A module's own packages are initialised before it runs: not an edge.
        found.update(c for c in candidates if c in modules and not name.startswith(f"{c}."))
        found.discard(name)
        pending.extend(child for child in ast.iter_child_nodes(node) if _runs(child))
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (loop := visit(target)):
                return loop
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (loop := visit(module)):
            return loop
    return None


def test_the_pack_has_no_import_cycle():
    modules = pack_modules()
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert "prefect_botpenguin.core.snapshot" in graph["prefect_botpenguin._dispatch"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_a_cycle_hidden_in_a_function_is_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
