"""Pytest plugin: lines a test wants in the CI log, printed in the terminal summary.

A test records ``record_property("run_note", line)``; the line travels with its report, so it
is printed by the process that writes the summary, also under pytest-xdist (where a worker's
own output, even with ``capsys.disabled()``, never reaches the terminal).
"""

from __future__ import annotations

from typing import Any

import pytest

PROPERTY = "run_note"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """One line per note, in the order the tests finished."""
    notes = [
        value
        for category in ("passed", "failed", "error")
        for report in terminalreporter.stats.get(category, [])
        if getattr(report, "when", "call") == "call"
        for name, value in getattr(report, "user_properties", [])
        if name == PROPERTY
    ]
    if notes:
        terminalreporter.write_sep("=", "run notes")
        for note in notes:
            terminalreporter.write_line(str(note))
