"""A mkdocs hook: the package's source as the API pages' generator needs to read it.

setuptools maps the folders tasks/, flows/ and deployments/ onto one import name,
``prefect_botpenguin``; griffe (mkdocstrings' reader) follows the installed package only for
its top folder. This builds ``build/docs-src/prefect_botpenguin`` from symlinks, laid out as
the wheel is, so every page documents the same source without importing anything.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import Any

import griffe
from mkdocs.plugins import event_priority

ROOT = Path(__file__).resolve().parents[1]
TREE = ROOT / "build" / "docs-src" / "prefect_botpenguin"
SUBPACKAGES = {"flows": ROOT / "flows", "deployments": ROOT / "deployments"}


@event_priority(100)  # before mkdocstrings looks for its paths
def on_config(config: Any) -> Any:
    """Lay the tree anew before any page is read."""
    shutil.rmtree(TREE, ignore_errors=True)
    TREE.mkdir(parents=True)
    for entry in (ROOT / "tasks").iterdir():
        if entry.name != "__pycache__":
            (TREE / entry.name).symlink_to(entry)
    for name, folder in SUBPACKAGES.items():
        (TREE / name).symlink_to(folder)
    return config


class DualTasks(griffe.Extension):
    """Each ``atask, task = dual_task(_impl, ...)`` pair as two documented names.

    Both twins are built at run time from one body, which static reading cannot see: give
    each twin the body's signature and docstring, under its public name.
    """

    def on_module_members(
        self, *, node: ast.AST | griffe.ObjectNode, mod: griffe.Module, **kwargs: Any
    ) -> None:
        if not isinstance(node, ast.Module):
            return
        for statement in node.body:
            if not (
                isinstance(statement, ast.Assign)
                and isinstance(target := statement.targets[0], ast.Tuple)
                and isinstance(call := statement.value, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id == "dual_task"
                and call.args
                and isinstance(body := call.args[0], ast.Name)
                and body.id in mod.members
            ):
                continue
            for twin in target.elts:
                if isinstance(twin, ast.Name):
                    mod.set_member(twin.id, griffe.Alias(twin.id, mod.members[body.id], parent=mod))


class SharedHelp(griffe.Extension):
    """A flow's ``{CREDENTIALS_HELP}``-style Args entries as the text Prefect's form shows.

    ``flows.parameter_help.shared_help`` fills them in at import; static reading sees the
    braces, so fill the same texts in here, read from that module's source.
    """

    def __init__(self) -> None:
        source = (SUBPACKAGES["flows"] / "parameter_help.py").read_text("utf-8")
        (self.texts,) = [
            ast.literal_eval(statement.value)
            for statement in ast.parse(source).body
            if isinstance(statement, ast.Assign)
            and isinstance(target := statement.targets[0], ast.Name)
            and target.id == "SHARED_HELP"
        ]

    def on_function(self, *, func: griffe.Function, **kwargs: Any) -> None:
        if func.docstring is not None:
            for name, text in self.texts.items():
                func.docstring.value = func.docstring.value.replace("{" + name + "}", text)
