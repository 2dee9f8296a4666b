"""Ready flows that compose the pack's tasks; ``botpenguin --help`` runs them from a terminal.

Each is deployable from the installed package by module path, e.g.
``prefect_botpenguin.flows.sync:segments_sync``. The names load on first use, so the
command line starts without importing every flow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy import lazy_attributes

if TYPE_CHECKING:
    from .export import segments_export
    from .fanout import segments_fanout
    from .fanout_members import members_fanout
    from .history import segments_history_export
    from .load import segments_load
    from .members import segments_members_export
    from .report import segments_report
    from .shard import fanout_shard
    from .sync import segments_sync
    from .watch import segments_watch

_WHERE = {
    "fanout_shard": ".shard",
    "members_fanout": ".fanout_members",
    "segments_export": ".export",
    "segments_fanout": ".fanout",
    "segments_history_export": ".history",
    "segments_load": ".load",
    "segments_members_export": ".members",
    "segments_report": ".report",
    "segments_sync": ".sync",
    "segments_watch": ".watch",
}

__all__ = [
    "fanout_shard",
    "members_fanout",
    "segments_export",
    "segments_fanout",
    "segments_history_export",
    "segments_load",
    "segments_members_export",
    "segments_report",
    "segments_sync",
    "segments_watch",
]


__getattr__, __dir__ = lazy_attributes(globals(), _WHERE, __all__)
