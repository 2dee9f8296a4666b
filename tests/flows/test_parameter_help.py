"""Shared parameter help: the run form (Prefect) and the API pages (griffe) say the same."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import griffe

import prefect_botpenguin.flows as flows
from prefect_botpenguin.flows.parameter_help import SHARED_HELP

ROOT = Path(__file__).resolve().parents[2]
SHARING = {  # flow -> its module, for the flows whose docstrings use a shared entry
    "members_fanout": "fanout_members",
    "segments_export": "export",
    "segments_fanout": "fanout",
    "segments_history_export": "history",
    "segments_load": "load",
    "segments_members_export": "members",
    "segments_report": "report",
    "segments_sync": "sync",
    "segments_watch": "watch",
}


def _docs_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("source_tree", ROOT / "docs" / "source_tree.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _help(text: str) -> str:
    return " ".join(text.split())


def test_no_flow_shows_a_shared_help_placeholder_in_its_run_form():
    for name in flows.__all__:
        flow = getattr(flows, name)
        for parameter, schema in flow.parameters.properties.items():
            assert "_HELP}" not in schema.get("description", ""), (name, parameter)


def test_the_api_pages_show_each_parameter_as_the_run_form_does(tmp_path, monkeypatch):
    hook = _docs_hook()
    monkeypatch.setattr(hook, "TREE", tmp_path / "prefect_botpenguin")
    hook.on_config(None)
    package = griffe.load(
        "prefect_botpenguin.flows",
        search_paths=[str(tmp_path)],
        extensions=griffe.load_extensions(hook.SharedHelp),
        docstring_parser="google",
    )
    for flow_name, module in SHARING.items():
        sections = package[f"{module}.{flow_name}"].docstring.parse()
        (args,) = [s for s in sections if s.kind is griffe.DocstringSectionKind.parameters]
        on_page = {p.name: _help(p.description) for p in args.value}
        in_form = getattr(flows, flow_name).parameters.properties
        assert on_page == {name: _help(p.get("description", "")) for name, p in in_form.items()}
        assert any(text in on_page.values() for text in SHARED_HELP.values()), flow_name
