"""Account slugs: distinct and stable for any Unicode label, unchanged for Latin ones."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_botpenguin.core.accounts import account_slug

SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


@pytest.mark.parametrize(
    ("label", "slug"),
    [
        ("Larkspur Tea Co. (São Paulo)", "larkspur-tea-co-sao-paulo"),
        ("reseller-one", "reseller-one"),
        ("ACME  Inc.", "acme-inc"),
        ("Crème Brûlée Ltd", "creme-brulee-ltd"),
        ("Joe\u2019s Tea \u2014 Main", "joes-tea-main"),
        ("", "default"),
        ("default", "default"),
    ],
)
def test_ascii_and_accented_latin_labels_keep_the_slug_they_always_had(
    label: str, slug: str
) -> None:
    assert account_slug(label) == slug


@pytest.mark.parametrize(
    "labels",
    [
        ["Магазин Москва", "Магазин Питер", "Склад Москва"],
        ["北京店", "上海店", "東京店"],
        ["متجر دبي", "متجر الرياض"],
        ["Tea ☕", "Tea 🍵", "Tea"],
        ["Магазин", "Magazin"],
    ],
)
def test_non_latin_labels_get_distinct_slugs(labels: list[str]) -> None:
    slugs = [account_slug(label) for label in labels]
    assert len(set(slugs)) == len(labels), slugs
    assert "default" not in slugs
    assert all(SLUG.fullmatch(slug) for slug in slugs)


def test_a_non_latin_slug_is_readable_and_stable_across_runs() -> None:
    # Hard-coded: a slug names files and artifact keys, so it must never drift.
    assert account_slug("Магазин Москва") == "magazin-moskva-e250546c"
    assert account_slug("北京店") == "bei-jing-dian-ab48b1d7"


@given(st.text(max_size=30), st.text(max_size=30))
def test_distinct_labels_with_a_non_latin_letter_never_share_a_slug(
    first: str, second: str
) -> None:
    if first != second:
        assert account_slug(f"Магазин {first}") != account_slug(f"Магазин {second}")


@given(st.text(max_size=40))
def test_every_slug_is_a_valid_prefect_key_part(label: str) -> None:
    assert SLUG.fullmatch(account_slug(label))
