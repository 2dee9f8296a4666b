"""Change kinds and thresholds: drift stays quiet, what counts notifies (no Prefect)."""

from __future__ import annotations

import pytest

from prefect_botpenguin.core.change_kinds import (
    KIND_FIELDS,
    ChangeKind,
    ChangeKindRules,
    classify_diff,
    count_of,
    load_change_kind_rules,
)
from prefect_botpenguin.core.diff import diff_segments
from prefect_botpenguin.core.errors import ConfigurationError
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.core.thresholds import (
    SWING_CAP,
    Resize,
    SizeThreshold,
    load_size_threshold,
    resized,
    swing_label,
    swing_patterns,
)

RULES = ChangeKindRules()
DEFAULT = SizeThreshold()


def seg(segment_id: str = "s1", name: str = "VIP", **fields: object) -> Segment:
    return Segment.from_api({"_id": segment_id, "segmentName": name, **fields})


def classify(before: list[Segment], after: list[Segment], threshold: SizeThreshold = DEFAULT):
    return classify_diff(diff_segments(before, after), RULES, threshold)


def test_every_listed_field_has_its_kind_and_any_other_field_is_definition():
    for kind, fields in KIND_FIELDS.items():
        assert {RULES.kind_of(field) for field in fields} == {kind}
    assert RULES.kind_of("segmentName") is ChangeKind.DEFINITION
    assert RULES.kind_of("filters") is ChangeKind.DEFINITION
    assert RULES.kind_of("somethingNew") is ChangeKind.DEFINITION


def test_one_percent_drift_with_ticking_timestamps_does_not_notify():
    before = [seg(contactCount=1000, updatedAt="2026-12-01T10:00:00Z")]
    after = [seg(contactCount=1010, updatedAt="2026-12-01T11:00:00Z")]
    result = classify(before, after)
    assert result.diff  # the change is there, recorded ...
    assert not result.notifies  # ... but not announced
    (change,) = result.changes
    assert change.kinds == (ChangeKind.SIZE, ChangeKind.BOOKKEEPING)
    assert change.resize is None
    assert result.quiet == result.changes


def test_a_forty_percent_fall_of_a_hundred_contact_audience_notifies_as_a_resize():
    result = classify([seg(contactCount=100)], [seg(contactCount=60)])
    assert result.notifies
    (change,) = result.resized
    assert change.resize == Resize(before=100, after=60, percent=-40.0)
    assert change.fields == {ChangeKind.SIZE: ("contactCount",)}


def test_bookkeeping_alone_never_notifies():
    result = classify([seg(lastSyncedAt="a", modifiedAt=1)], [seg(lastSyncedAt="b", modifiedAt=2)])
    assert result.diff
    assert not result.notifies
    assert result.changes[0].kinds == (ChangeKind.BOOKKEEPING,)


def test_a_rename_is_a_definition_change_and_notifies_even_with_drift():
    result = classify([seg(contactCount=1000)], [seg(name="VIP+", contactCount=1001)])
    (change,) = result.changes
    assert change.fields[ChangeKind.DEFINITION] == ("segmentName",)
    assert change.notifies
    assert result.notifies


def test_creations_and_removals_notify():
    assert classify([], [seg()]).notifies
    assert classify([seg()], []).notifies
    assert not classify([seg()], [seg()]).notifies


def test_extra_fields_from_the_environment_join_the_table(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BOTPENGUIN_SIZE_FIELDS", "audienceSize, members")
    monkeypatch.setenv("BOTPENGUIN_BOOKKEEPING_FIELDS", '["recomputedAt"]')
    rules = load_change_kind_rules()
    assert rules.size_fields[-2:] == ("audienceSize", "members")
    assert rules.size_fields[0] == "contactCount"  # built-ins keep precedence
    assert rules.kind_of("recomputedAt") is ChangeKind.BOOKKEEPING
    assert rules.kind_of("audienceSize") is ChangeKind.SIZE


def test_a_field_cannot_be_both_size_and_bookkeeping():
    with pytest.raises(ConfigurationError, match="both size and bookkeeping") as caught:
        ChangeKindRules.with_extras(size=["updatedAt"])
    assert "\n" not in str(caught.value)


def test_threshold_needs_both_relative_and_absolute():
    threshold = SizeThreshold(relative=10, absolute=10)
    assert resized(5, 8, threshold) is None  # +60% but 3 contacts
    assert resized(1_000_000, 1_010_000, threshold) is None  # 10,000 contacts but +1%
    assert resized(100, 110, threshold) == Resize(100, 110, 10.0)  # at both bars
    assert resized(100, 109, threshold) is None


def test_growth_from_zero_passes_the_relative_bar_and_unknown_sizes_never_resize():
    assert resized(0, 50, DEFAULT) == Resize(0, 50, None)
    assert resized(None, 50, DEFAULT) is None
    assert resized(50, None, DEFAULT) is None


def test_thresholds_come_from_botpenguin_settings(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BOTPENGUIN_RESIZE_RELATIVE", "0.5")
    monkeypatch.setenv("BOTPENGUIN_RESIZE_ABSOLUTE", "1")
    threshold = load_size_threshold()
    assert (threshold.relative, threshold.absolute) == (0.5, 1)
    result = classify([seg(contactCount=1000)], [seg(contactCount=1010)], threshold)
    assert result.notifies  # +1% passes a 0.5% bar


def test_a_deployments_own_threshold_wins_over_the_settings(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BOTPENGUIN_RESIZE_RELATIVE", "0.5")
    monkeypatch.setenv("BOTPENGUIN_RESIZE_ABSOLUTE", "1")
    threshold = load_size_threshold(relative=25)
    assert (threshold.relative, threshold.absolute) == (25, 1)
    assert load_size_threshold(absolute=0).relative == 0.5
    with pytest.raises(ConfigurationError, match=r"resize_absolute \(BOTPENGUIN_RESIZE_ABSOLUTE"):
        load_size_threshold(absolute=-1)


def test_a_bad_threshold_setting_is_one_line(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BOTPENGUIN_RESIZE_RELATIVE", "-3")
    with pytest.raises(ConfigurationError, match="BOTPENGUIN_RESIZE_RELATIVE") as caught:
        load_size_threshold()
    assert "\n" not in str(caught.value)


def test_the_first_count_field_wins_and_non_counts_are_skipped():
    assert count_of({"contactsCount": 7, "contactCount": 9}, RULES) == 9
    assert count_of({"contactCount": "9", "totalContacts": 4}, RULES) == 4
    assert count_of({"contactCount": True, "totalContacts": 4.0}, RULES) == 4
    assert count_of({"contactCount": -1}, RULES) is None
    assert count_of({}, RULES) is None


def test_whole_sizes_given_by_the_caller_decide_the_move():
    before = [seg(contactCount=100, contactsCount=1)]
    after = [seg(contactCount=100, contactsCount=90)]  # a lesser count field moved
    diff = diff_segments(before, after)
    guessed = classify_diff(diff, RULES, DEFAULT)
    assert guessed.notifies  # from the changed fields alone: 1 -> 90
    known = classify_diff(diff, RULES, DEFAULT, before={"s1": 100}, after={"s1": 100})
    assert not known.notifies  # the segment's size (contactCount) did not move


@pytest.mark.parametrize("bar", [0, 1, 9, 10, 40, 45, 99, 100, 101, 555, 998, 999])
def test_swing_patterns_match_exactly_the_swings_at_or_past_the_bar(bar: int):
    patterns = swing_patterns(bar)
    assert len(patterns) <= 27

    def matches(label: str) -> bool:  # Prefect's rule: exact, or a prefix before "*"
        return any(label.startswith(p[:-1]) if p.endswith("*") else label == p for p in patterns)

    for swing in range(SWING_CAP + 1):
        assert matches(f"{swing:03d}") == (swing >= bar), swing


def test_the_swing_label_is_the_whole_percent_either_way_and_caps_growth_from_zero():
    assert swing_label(Resize(1313, 525, -60.0)) == "060"
    assert swing_label(Resize(100, 1700, 1600.0)) == "999"
    assert swing_label(Resize(0, 50, None)) == "999"
    with pytest.raises(ConfigurationError, match="0 to 999"):
        swing_patterns(1000)
