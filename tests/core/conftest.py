"""Core-tier fixtures: the fault matrix's table in the terminal summary (issue 6).

``test_client_faults.py``'s rows are printed as a table at the end of the run, for CI logs;
the hook lives in ``fault_matrix_report.py`` next to the matrix it reports on.
"""

from __future__ import annotations

from fault_matrix_report import pytest_terminal_summary

__all__ = ["pytest_terminal_summary"]
