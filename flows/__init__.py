"""Ready flows that compose the pack's tasks; ``botpenguin --help`` runs them from a terminal.

Each is deployable from the installed package by module path, e.g.
``prefect_botpenguin.flows.sync:segments_sync``. The names load on first use, so the
command line starts without importing every flow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .export import segments_export
    from .fanout import segments_fanout
    from .members import segments_members_export
    from .report import segments_report
    from .sync import segments_sync
    from .watch import segments_watch

_WHERE = {
    "segments_export": ".export",
    "segments_fanout": ".fanout",
    "segments_members_export": ".members",
    "segments_report": ".report",
    "segments_sync": ".sync",
    "segments_watch": ".watch",
}

__all__ = [
    "segments_export",
    "segments_fanout",
    "segments_members_export",
    "segments_report",
    "segments_sync",
    "segments_watch",
]


def __getattr__(name: str) -> Any:
    """Import a flow's module the first time the flow is used."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
