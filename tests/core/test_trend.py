"""Trend text: sparklines and ``▁▂▃▅▇ 412 → 530 (+29%)`` with their edge cases."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from prefect_botpenguin.core.trend import BARS, GAP, format_percent, sparkline, trend_text


def test_a_rising_series_is_a_rising_sparkline_with_its_change():
    assert trend_text([412, 430, 470, 500, 530]) == "▁▂▄▆█ 412 → 530 (+29%)"


def test_one_point_shows_its_size_without_a_change():
    assert trend_text([96]) == f"{BARS[3]} 96"


def test_a_flat_series_is_a_middle_line_and_zeros_the_bottom_line():
    assert sparkline([5, 5, 5]) == BARS[3] * 3
    assert sparkline([0, 0]) == BARS[0] * 2
    assert trend_text([5, 5]) == f"{BARS[3] * 2} 5 → 5 (±0%)"


def test_unknown_sizes_are_gaps_and_the_change_spans_known_ones():
    assert sparkline([10, None, 20]) == f"{BARS[0]}{GAP}{BARS[-1]}"
    assert trend_text([None, 100, None, 40]) == f"{GAP}{BARS[-1]}{GAP}{BARS[0]} 100 → 40 (-60%)"
    assert trend_text([None, None]) == "no size recorded"
    assert trend_text([]) == "no size recorded"


def test_growth_from_zero_is_new_and_small_moves_keep_a_decimal():
    assert format_percent(0, 12) == "new"
    assert format_percent(0, 0) == "±0%"
    assert format_percent(1000, 1008) == "+0.8%"
    assert format_percent(1000, 1010) == "+1%"


def test_only_the_newest_points_are_drawn():
    assert sparkline(list(range(100)), width=5) == sparkline([95, 96, 97, 98, 99])
    assert trend_text(list(range(100)), width=5).endswith(" 95 → 99 (+4%)")


@given(st.lists(st.one_of(st.none(), st.integers(0, 10**9)), max_size=60))
def test_a_sparkline_has_one_character_per_shown_point_and_peaks_at_the_top(sizes):
    line = sparkline(sizes, width=30)
    shown = sizes[-30:]
    assert len(line) == len(shown)
    assert all(char in BARS or char == GAP for char in line)
    known = [size for size in shown if size is not None]
    if known and min(known) != max(known):
        assert line[shown.index(max(known))] == BARS[-1]
        assert line[shown.index(min(known))] == BARS[0]
