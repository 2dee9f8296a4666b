"""Pytest plugin: print the fault matrix as a table in the terminal summary, so CI logs show it.

Each row of ``tests/core/test_client_faults.py`` records one ``fault_matrix`` user property (via
``record_property``) holding what it expected and what it observed; this hook gathers them
from the test reports, so it also works when the matrix is run on its own or in parallel.
"""

from __future__ import annotations

from typing import Any

import pytest

PROPERTY = "fault_matrix"


def _rows(terminalreporter: Any) -> list[dict[str, str]]:
    """Matrix rows from this session's reports; an error in teardown marks its row FAIL."""
    rows: dict[str, dict[str, str]] = {}
    for category in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(category, []):
            for name, value in getattr(report, "user_properties", []):
                if name == PROPERTY:
                    failed = (
                        category != "passed" or rows.get(value["row"], {}).get("result") == "FAIL"
                    )
                    rows[value["row"]] = {**value, "result": "FAIL" if failed else "pass"}
    return sorted(rows.values(), key=lambda row: int(row.get("#", "0")))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Write one line per matrix row: what was expected, the requests seen, the time taken."""
    rows = _rows(terminalreporter)
    if not rows:
        return
    titles = list(rows[0])
    cells = [[str(row.get(title, "")) for title in titles] for row in rows]
    widths = [max(len(title), *(len(c[i]) for c in cells)) for i, title in enumerate(titles)]

    def line(values: list[str]) -> str:
        return " | ".join(value.ljust(width) for value, width in zip(values, widths, strict=True))

    terminalreporter.write_sep("=", f"fault matrix: {len(rows)} rows")
    terminalreporter.write_line(line(titles))
    terminalreporter.write_line("-+-".join("-" * width for width in widths))
    for values in cells:
        terminalreporter.write_line(line(values))
