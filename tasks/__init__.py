"""prefect-botpenguin: Prefect tasks, blocks and flows for BotPenguin segments.

    from prefect_botpenguin import BotPenguinCredentials, fetch_segments

Every task works in a plain ``@flow def`` (``segments = fetch_segments()``) and in an
``async def`` flow (``segments = await fetch_segments()``); its async twin, named with an
``a`` in front (``afetch_segments``), is there for async code that wants exact types.

The names below load on first use (PEP 562), so ``import prefect_botpenguin.core.client``
or ``python -m prefect_botpenguin.sandbox`` never pays for Prefect. Layout:

- ``prefect_botpenguin.core``: settings, errors, models, the HTTP client, exports' formats,
  diffs, atomic writes and the fan-out engine; never imports Prefect.
- ``prefect_botpenguin.sandbox``: a BotPenguin-compatible server with invented sample data.
- this package: the Prefect layer (block, tasks, artifacts, events, notifications).
- ``prefect_botpenguin.flows``: ready flows; ``botpenguin --help`` runs them from a terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .core.lazy import lazy_attributes

if TYPE_CHECKING:
    from .artifacts import apublish_segments_artifact, publish_segments_artifact
    from .change_summary import apublish_changes_artifact, publish_changes_artifact
    from .changes import aemit_change_events, emit_change_events
    from .core.client import BotPenguinClient
    from .core.diff import SegmentDiff, diff_segments
    from .core.errors import BotPenguinError
    from .core.fanout import FanoutAccount, FanoutReport, collect_segments
    from .core.members import Contact, get_segment_members, iter_members, iter_segment_members
    from .core.models import Segment
    from .core.settings import BotPenguinSettings
    from .core.snapshot import Snapshot
    from .credentials import BotPenguinCredentials
    from .exports import ExportResult, aexport_segments, export_segments
    from .fanout import (
        afetch_segments_fanout,
        apublish_fanout_artifacts,
        fetch_segments_fanout,
        publish_fanout_artifacts,
    )
    from .history import SizeHistoryRow, asegment_size_history, segment_size_history
    from .member_export import MembersExportResult
    from .members import (
        SegmentMembers,
        aexport_segment_members,
        afetch_segment_members,
        export_segment_members,
        fetch_segment_members,
    )
    from .notifications import (
        acheck_notification_targets,
        asend_notification,
        check_notification_targets,
        send_notification,
    )
    from .segments import afetch_segments, fetch_segments
    from .snapshots import (
        aload_segments_snapshot,
        asave_segments_snapshot,
        load_segments_snapshot,
        save_segments_snapshot,
    )

_WHERE: dict[str, str] = {
    "BotPenguinClient": ".core.client",
    "BotPenguinCredentials": ".credentials",
    "BotPenguinError": ".core.errors",
    "BotPenguinSettings": ".core.settings",
    "Contact": ".core.members",
    "ExportResult": ".exports",
    "FanoutAccount": ".core.fanout",
    "FanoutReport": ".core.fanout",
    "MembersExportResult": ".member_export",
    "Segment": ".core.models",
    "SegmentMembers": ".members",
    "SegmentDiff": ".core.diff",
    "SizeHistoryRow": ".history",
    "asegment_size_history": ".history",
    "segment_size_history": ".history",
    "Snapshot": ".core.snapshot",
    "acheck_notification_targets": ".notifications",
    "aemit_change_events": ".changes",
    "aexport_segments": ".exports",
    "afetch_segments": ".segments",
    "afetch_segments_fanout": ".fanout",
    "aload_segments_snapshot": ".snapshots",
    "apublish_changes_artifact": ".change_summary",
    "apublish_fanout_artifacts": ".fanout",
    "apublish_segments_artifact": ".artifacts",
    "asave_segments_snapshot": ".snapshots",
    "asend_notification": ".notifications",
    "check_notification_targets": ".notifications",
    "collect_segments": ".core.fanout",
    "diff_segments": ".core.diff",
    "emit_change_events": ".changes",
    "export_segment_members": ".members",
    "aexport_segment_members": ".members",
    "afetch_segment_members": ".members",
    "export_segments": ".exports",
    "fetch_segment_members": ".members",
    "fetch_segments": ".segments",
    "fetch_segments_fanout": ".fanout",
    "get_segment_members": ".core.members",
    "iter_members": ".core.members",
    "iter_segment_members": ".core.members",
    "load_segments_snapshot": ".snapshots",
    "publish_changes_artifact": ".change_summary",
    "publish_fanout_artifacts": ".fanout",
    "publish_segments_artifact": ".artifacts",
    "save_segments_snapshot": ".snapshots",
    "send_notification": ".notifications",
}

__all__ = [
    "BotPenguinClient",
    "BotPenguinCredentials",
    "BotPenguinError",
    "BotPenguinSettings",
    "Contact",
    "ExportResult",
    "FanoutAccount",
    "FanoutReport",
    "MembersExportResult",
    "Segment",
    "SegmentDiff",
    "SegmentMembers",
    "SizeHistoryRow",
    "Snapshot",
    "acheck_notification_targets",
    "aemit_change_events",
    "aexport_segment_members",
    "aexport_segments",
    "afetch_segment_members",
    "afetch_segments",
    "afetch_segments_fanout",
    "aload_segments_snapshot",
    "apublish_changes_artifact",
    "apublish_fanout_artifacts",
    "apublish_segments_artifact",
    "asave_segments_snapshot",
    "asegment_size_history",
    "asend_notification",
    "check_notification_targets",
    "collect_segments",
    "diff_segments",
    "emit_change_events",
    "export_segment_members",
    "export_segments",
    "fetch_segment_members",
    "fetch_segments",
    "fetch_segments_fanout",
    "get_segment_members",
    "iter_members",
    "iter_segment_members",
    "load_segments_snapshot",
    "publish_changes_artifact",
    "publish_fanout_artifacts",
    "publish_segments_artifact",
    "save_segments_snapshot",
    "segment_size_history",
    "send_notification",
]


__getattr__, __dir__ = lazy_attributes(globals(), _WHERE, __all__)
