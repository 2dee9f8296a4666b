"""The two fan-out summary artifacts, word for word: what people read after a fan-out.

Pure functions of a report or a manifest, so no Prefect server: they pin the exact text
(headers, failed accounts, the accounts table, escaping) that the shared table helper builds.
"""

from __future__ import annotations

import prefect_botpenguin.shard_artifacts as shard_artifacts
from prefect_botpenguin.core.fanout_report import AccountOutcome, FanoutReport
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.core.shards import Manifest, ManifestEntry
from prefect_botpenguin.fanout import fanout_summary_markdown
from prefect_botpenguin.shard_artifacts import manifest_markdown

SEGMENT = Segment.model_validate({"_id": "s1", "segmentName": "VIP"})


def test_the_fanout_summary_lists_counts_failures_then_every_account() -> None:
    report = FanoutReport(
        outcomes=[
            AccountOutcome(label="Shop | North", segments=[SEGMENT, SEGMENT], seconds=0.25),
            AccountOutcome(label="Shop South", error="HTTP 401:\nrejected | token", seconds=1),
        ],
        seconds=1.26,
        concurrency=3,
    )

    assert fanout_summary_markdown(report) == "\n".join(
        [
            "# BotPenguin fan-out: 1 of 2 account(s)",
            "",
            "**2** segment(s) in 1.3s (at most 3 request(s) in flight).",
            "",
            "## Failed (1)",
            "",
            "| Account | Error |",
            "|---|---|",
            "| Shop South | HTTP 401: rejected \\| token |",
            "",
            "## Accounts",
            "",
            "| Account | Segments | Seconds |",
            "|---|---:|---:|",
            "| Shop \\| North | 2 | 0.25 |",
            "| Shop South | failed | 1.00 |",
        ]
    )


def test_a_fanout_summary_without_failures_has_no_failed_section() -> None:
    report = FanoutReport(outcomes=[AccountOutcome(label="One", segments=[SEGMENT])])

    text = fanout_summary_markdown(report)

    assert "## Failed" not in text
    assert text.endswith(
        "## Accounts\n\n| Account | Segments | Seconds |\n|---|---:|---:|\n| One | 1 | 0.00 |"
    )


def _manifest(what: str = "members") -> Manifest:
    return Manifest.model_validate(
        {
            "run_key": "run-1",
            "what": what,
            "shards": 2,
            "seconds": 12.04,
            "accounts": [
                ManifestEntry(
                    label="Shop North",
                    segment_count=3,
                    member_count=40,
                    files=["s3://b/north.csv", "s3://b/a|b.csv"],
                    shard=0,
                    attempt=1,
                ),
                ManifestEntry(label="Shop South", error="gone\tfor good", shard=1, attempt=2),
                ManifestEntry(label="Shop East", segment_count=1, shard=1),
            ],
        }
    )


def test_the_manifest_summary_lists_counts_failures_then_each_accounts_shard_and_files() -> None:
    assert manifest_markdown(_manifest(), "s3://b/manifest.json") == "\n".join(
        [
            "# BotPenguin members fan-out: 2 of 3 account(s)",
            "",
            "**4** segment(s), **40** member row(s) in 2 shard(s), 12.0s. "
            "Manifest: `s3://b/manifest.json`.",
            "",
            "## Failed (1)",
            "",
            "| Account | Shard | Error |",
            "|---|---:|---|",
            "| Shop South | 1 | gone for good |",
            "",
            "## Accounts",
            "",
            "| Account | Shard | Attempt | Segments | Members | Files |",
            "|---|---:|---:|---:|---:|---|",
            "| Shop North | 0 | 1 | 3 | 40 | `s3://b/north.csv`, `s3://b/a\\|b.csv` |",
            "| Shop South | 1 | 2 | failed | 0 |  |",
            "| Shop East | 1 | 0 | 1 | 0 |  |",
        ]
    )


def test_a_long_manifest_summary_stops_at_the_limit_and_points_to_the_manifest(
    monkeypatch,
) -> None:
    monkeypatch.setattr(shard_artifacts, "SUMMARY_TABLE_LIMIT", 1)

    text = manifest_markdown(_manifest("segments"), "m.json")

    assert text.startswith("# BotPenguin segments fan-out: 2 of 3 account(s)\n\n**4** segment(s) ")
    assert text.endswith(
        "| Shop North | 0 | 1 | 3 | 40 | `s3://b/north.csv`, `s3://b/a\\|b.csv` |\n"
        "\n... and 2 more: see the manifest."
    )
