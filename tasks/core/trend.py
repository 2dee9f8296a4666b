"""A segment's size trend as text: a Unicode sparkline and ``▁▂▃▅▇ 412 → 530 (+29%)``.

The table artifact's trend column, the markdown artifact and text-only messages (email,
Slack) all use these, so a trend reads the same everywhere. No Prefect.
"""

from __future__ import annotations

from collections.abc import Sequence

from .thresholds import percent_change

BARS = "▁▂▃▄▅▆▇█"
GAP = " "
"""Shown for a run that recorded no size (the API sent no count)."""
WIDTH = 24
"""Points a sparkline shows by default: the newest ones, short enough for a table column."""


def sparkline(sizes: Sequence[int | None], width: int = WIDTH) -> str:
    """One bar per size, oldest first, scaled from the smallest to the largest shown.

    ``None`` is a gap. All sizes equal: the lowest bar for zeros, a middle one otherwise, so a
    flat line never looks like a fall or a peak.
    """
    shown = list(sizes)[-width:] if width > 0 else []
    known = [size for size in shown if size is not None]
    if not known:
        return GAP * len(shown)
    low, high = min(known), max(known)
    top = len(BARS) - 1

    def bar(size: int | None) -> str:
        if size is None:
            return GAP
        if high == low:
            return BARS[0] if high == 0 else BARS[top // 2]
        return BARS[round((size - low) * top / (high - low))]

    return "".join(bar(size) for size in shown)


def format_percent(before: int, after: int) -> str:
    """``+29%``, ``-60%``, ``+0.8%`` (one decimal under 1%), ``±0%``; ``new`` from 0."""
    percent = percent_change(before, after)
    if percent is None:
        return "±0%" if after == 0 else "new"
    if percent == 0:
        return "±0%"
    text = f"{percent:+.1f}" if abs(percent) < 1 else f"{percent:+.0f}"
    return f"{text}%"


def trend_text(sizes: Sequence[int | None], width: int = WIDTH) -> str:
    """``▁▂▃▅▇ 412 → 530 (+29%)``: sparkline, first and last known size shown,
    their change.

    One known size gives ``▄ 412``; none gives ``no size recorded``.
    """
    shown = list(sizes)[-width:] if width > 0 else list(sizes)
    known = [size for size in shown if size is not None]
    if not known:
        return "no size recorded"
    line = sparkline(shown, width)
    first, last = known[0], known[-1]
    if len(known) == 1:
        return f"{line} {last}"
    return f"{line} {first} → {last} ({format_percent(first, last)})"
