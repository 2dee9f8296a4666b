"""The shard model: balanced deterministic splits, references, and a complete manifest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_botpenguin.core.errors import ConfigurationError
from prefect_botpenguin.core.shards import (
    AccountRef,
    ShardAccount,
    ShardReport,
    account_destination,
    attempt_report_location,
    build_manifest,
    check_destination,
    manifest_location,
    report_location,
    split_into_shards,
    unique_file_keys,
)


@given(st.lists(st.integers(), max_size=60), st.integers(min_value=1, max_value=20))
def test_split_puts_every_ref_in_exactly_one_balanced_shard(refs: list[int], n: int) -> None:
    shards = split_into_shards(refs, n)

    assert [ref for shard in shards for ref in shard] == refs
    assert len(shards) == max(1, min(n, len(refs)))
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 1
    assert split_into_shards(refs, n) == shards


def test_split_refuses_zero_shards() -> None:
    with pytest.raises(ConfigurationError, match="shards must be at least 1"):
        split_into_shards([1, 2], 0)


def test_a_ref_is_a_block_or_a_customer_and_gets_a_file_key() -> None:
    assert AccountRef(label="Tea Co.", block="tea").file_key == "tea-co"
    assert AccountRef(label="X", customer_id="c1").key == "customer:c1"
    with pytest.raises(ValueError, match="either a block or a customer id"):
        AccountRef(label="X", block="b", customer_id="c1")


def test_two_labels_with_one_slug_get_distinct_file_keys() -> None:
    refs = unique_file_keys(
        [AccountRef(label="A.B", customer_id="c1"), AccountRef(label="a b", customer_id="c2")]
    )
    assert [ref.file_key for ref in refs] == ["a-b", "a-b-c2"]


def test_destinations_reports_and_manifest_go_beside_the_export() -> None:
    ref = AccountRef(label="Tea", block="tea")
    export = "s3://bucket/out/{shard}/{account}.csv"
    assert account_destination(export, ref, 2) == "s3://bucket/out/2/tea.csv"
    assert report_location(export, "run", 2) == "s3://bucket/out/_shards/run/shard-2.json"
    first = report_location(export, "run", 2)
    assert attempt_report_location(first, 1) == first
    assert attempt_report_location(first, 3) == "s3://bucket/out/_shards/run/shard-2.attempt-3.json"
    assert manifest_location("exports/{account}.csv") == "exports/_manifest.json"
    assert manifest_location("{account}.csv") == "./_manifest.json"
    with pytest.raises(ConfigurationError, match=r"\{account\}"):
        check_destination("exports/all.csv")


def test_manifest_lists_every_account_once_and_names_a_lost_shards_accounts() -> None:
    refs = [AccountRef(label=f"a{n}", block=f"a{n}") for n in range(5)]
    shards = split_into_shards(refs, 2)
    report = ShardReport(
        run_key="r",
        shard=0,
        attempt=2,
        accounts=[
            ShardAccount(label="a0", segment_count=3, files=["a0.csv"]),
            ShardAccount(label="a1", error="refused"),
            ShardAccount(label="a2", segment_count=1, files=["a2.csv"]),
        ],
    )

    manifest = build_manifest("r", "segments", shards, {0: report}, {1: "shard 1 crashed"})

    assert [e.label for e in manifest.accounts] == ["a0", "a1", "a2", "a3", "a4"]
    assert [(e.shard, e.attempt) for e in manifest.accounts] == [(0, 2)] * 3 + [(1, 0)] * 2
    assert [e.label for e in manifest.failed] == ["a1", "a3", "a4"]
    assert manifest.accounts[3].error == "shard 1 crashed"
    assert manifest.accounts[0].files == ["a0.csv"]
