"""The watch's options that ``watch`` and ``sync`` both take, as two parameter objects.

Why: the two commands list the same seven options, in two runs split by options of their own;
a handler parameter typed with a group stands for one run (``account_command`` spreads it into
its options, in field order, and hands the handler the group), and the flow call takes the
group's ``flow_options`` instead of repeating seven keywords.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from . import options as o


@dataclass(frozen=True)
class WatchTargets:
    """--state, --notify, --always-notify: where the watch keeps its snapshots, whom it tells."""

    state: o.State = None
    notify: o.Notify = None
    always_notify: o.AlwaysNotify = False

    @property
    def flow_options(self) -> dict[str, Any]:
        """As ``segments_watch`` and the sync's ``WatchStep`` take them.

        No --state is the default state directory; no --notify is left to the flow's default.
        """
        from ...snapshots import DEFAULT_STATE_DIR

        options: dict[str, Any] = {
            "state": self.state or DEFAULT_STATE_DIR,
            "always_notify": self.always_notify,
        }
        if self.notify:
            options["notify"] = [*self.notify]
        return options


@dataclass(frozen=True)
class StateGuards:
    """--state-filesystem, --accept-drop, --reset-state, --drop-pending: the block holding the
    state, and the ways to overrule the guards around it."""

    state_filesystem: o.StateFilesystem = None
    accept_drop: o.AcceptDrop = False
    reset_state: o.ResetState = False
    drop_pending: o.DropPending = False

    @property
    def flow_options(self) -> dict[str, Any]:
        """As ``segments_watch`` and the sync's ``WatchStep`` take them: the same names."""
        return asdict(self)


__all__ = ["StateGuards", "WatchTargets"]
