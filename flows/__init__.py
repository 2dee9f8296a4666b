"""Flows that compose the pack's tasks; ``python -m flows --help`` runs them from a terminal."""

from flows.report import segments_report

__all__ = ["segments_report"]
