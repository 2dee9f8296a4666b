"""The summary artifacts' table helper: one cell stays one cell, a table has its columns."""

from __future__ import annotations

import pytest

from prefect_botpenguin.core.markdown import cell, table_section


def test_a_cell_with_newlines_and_pipes_stays_one_cell() -> None:
    assert cell("  rejected |\n the\ttoken ") == "rejected \\| the token"


def test_a_section_is_a_title_then_a_table_aligned_by_letter() -> None:
    rows = [("a", 1), ("b", 22)]

    assert table_section("Accounts", ("Account", "Count"), "lr", rows) == [
        "## Accounts",
        "",
        "| Account | Count |",
        "|---|---:|",
        "| a | 1 |",
        "| b | 22 |",
    ]


def test_an_alignment_that_misses_a_column_is_refused() -> None:
    with pytest.raises(ValueError, match="shorter"):
        table_section("Accounts", ("Account", "Count"), "l", [])
