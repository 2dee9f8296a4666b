"""Flows that compose the pack's tasks; ``python -m flows --help`` runs them from a terminal."""

from flows.export import segments_export
from flows.fanout import segments_fanout
from flows.report import segments_report
from flows.sync import segments_sync
from flows.watch import segments_watch

__all__ = [
    "segments_export",
    "segments_fanout",
    "segments_report",
    "segments_sync",
    "segments_watch",
]
