"""Options that commands take together, as parameter objects: an export's destination, and
the watch's options that ``watch`` and ``sync`` both take (in two runs, split by their own).

Why: a handler parameter typed with a group stands for the group's options
(``account_command`` spreads them in its place, in field order, and hands the handler the
group), and the flow call takes the group's ``flow_options`` instead of repeating keywords.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from . import options as o


@dataclass(frozen=True)
class Destination:
    """--to, --format: where an export goes and as which format (``export``, ``history``;
    ``members`` builds one from its own --to)."""

    to: o.ExportTo
    format: o.Format = None

    @property
    def flow_options(self) -> dict[str, Any]:
        """As the export flows take them; a bad format or extension fails here, before Prefect."""
        return {"destination": self.to, "format": o.checked_format(self.to, self.format)}


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


__all__ = ["Destination", "StateGuards", "WatchTargets"]
