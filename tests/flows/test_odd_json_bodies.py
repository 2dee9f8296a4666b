"""Answers strict JSON parsers refuse (a lone surrogate escape, NaN, Infinity) flow through
report, export, watch and events by one rule: U+FFFD and null (see core/client.py)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter
from prefect_readback import latest_artifact, read_all_events, table_rows

from prefect_botpenguin.core.accounts import account_slug
from prefect_botpenguin.flows.export import segments_export
from prefect_botpenguin.flows.report import segments_report
from prefect_botpenguin.flows.watch import segments_watch
from prefect_botpenguin.sandbox import Fault, SandboxServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

ODD_ID = "6a1c0ffee5a1e0000b0a7e99"
# What a JavaScript server sends for a name cut inside an emoji, plus two non-JSON numbers.
ODD_BODY = (
    '{"success": true, "message": "", "data": ['
    '{"_id": "6a1c0ffee5a1e0000b0a7e01", "segmentName": "VIP tea club", "score": 1.5},'
    f'{{"_id": "{ODD_ID}", "segmentName": "Fans \\ud83d", "score": NaN, "reach": Infinity}}'
    "]}"
).encode()
CUT_NAME = "Fans \ufffd"


def odd_answer() -> Fault:
    return Fault(body=ODD_BODY)


def label() -> str:
    return f"Odd {uuid.uuid4().hex[:8]}"


async def test_report_reads_the_odd_answer_and_tables_it(sandbox_env: SandboxServer) -> None:
    sandbox_env.inject(odd_answer())
    name = label()

    segments = await segments_report(account=name)

    odd = next(s for s in segments if s.id == ODD_ID)
    assert odd.name == CUT_NAME
    assert odd.extra == {"score": None, "reach": None}
    rows = table_rows(await latest_artifact(f"botpenguin-segments-{account_slug(name)}"))
    assert [row["name"] for row in rows] == ["VIP tea club", CUT_NAME]
    assert rows[1]["score"] is None


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "parquet"])
async def test_every_export_format_holds_the_replacement_character_and_null(
    sandbox_env: SandboxServer, tmp_path: Path, fmt: str
) -> None:
    sandbox_env.inject(odd_answer())
    target = tmp_path / f"segments.{fmt}"

    await segments_export(str(target), account=label())

    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
        values = [(row["name"], row["score"] or None) for row in rows]
    elif fmt == "parquet":
        table = pq.read_table(target).to_pylist()
        values = [(row["name"], row["score"]) for row in table]
    else:
        text = target.read_text(encoding="utf-8")
        records = json.loads(text) if fmt == "json" else [json.loads(x) for x in text.splitlines()]
        values = [(r["name"], r["score"]) for r in records]
    score = "1.5" if fmt == "csv" else 1.5
    assert values == [("VIP tea club", score), (CUT_NAME, None)]


async def test_watch_snapshots_and_emits_the_odd_segment_and_then_stays_quiet(
    sandbox_env: SandboxServer, tmp_path: Path
) -> None:
    name = label()
    await segments_watch(account=name, state=str(tmp_path))  # baseline: the sample account
    sandbox_env.inject(odd_answer(), odd_answer())

    # The odd answer holds 2 segments where the sample account had 6: not a glitch here.
    changed = await segments_watch(account=name, state=str(tmp_path), accept_drop=True)
    quiet = await segments_watch(account=name, state=str(tmp_path), accept_drop=True)

    assert changed.changed
    assert not quiet.changed, "the same answer reads the same way every time"
    document = json.loads((tmp_path / f"{account_slug(name)}.json").read_text(encoding="utf-8"))
    odd = next(s for s in document["segments"] if s["_id"] == ODD_ID)
    assert odd == {"_id": ODD_ID, "segmentName": CUT_NAME, "score": None, "reach": None}
    async with get_client() as client:
        events = await read_all_events(
            client,
            EventFilter(
                event=EventNameFilter(name=["botpenguin.segment.created"]),
                related=EventRelatedFilter(id=[f"botpenguin.account.{account_slug(name)}"]),
            ),
            limit=10,
        )
    (created,) = events
    assert created.resource.name == CUT_NAME
    assert created.payload["after"]["score"] is None
