"""Markdown tables for the pack's summary artifacts, written one way.

Prefect renders markdown artifacts as they are, so a label or an error holding a newline or
a ``|`` would break a table: the summary tables' cells that carry outside text go through
``cell``. (The trend table of ``history_artifacts`` makes segment names wholly inert, every
markdown mark escaped, and keeps its own escape for that.)
No Prefect import: the texts are built from plain values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

RULES = {"l": "---", "r": "---:"}
"""Alignment row cells by letter: left for text, right for numbers."""


def cell(text: str) -> str:
    """``text`` kept inside one table cell: on one line, its pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def table_section(
    title: str, columns: Sequence[str], align: str, rows: Iterable[Sequence[object]]
) -> list[str]:
    """``## title``, a blank line, then a table with a line a row.

    ``align`` has a letter a column (``l`` or ``r``, see ``RULES``); values are shown with
    ``str``, so escape outside text with ``cell`` first.
    """
    return [
        f"## {title}",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "|".join(RULES[letter] for _, letter in zip(columns, align, strict=True)) + "|",
        *("| " + " | ".join(map(str, row)) + " |" for row in rows),
    ]


__all__ = ["RULES", "cell", "table_section"]
