"""The size trend in the report's and the watch's artifacts, and ``segments_history_export``."""

from __future__ import annotations

import csv
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from prefect_readback import latest_artifact

from prefect_botpenguin.core.accounts import account_slug
from prefect_botpenguin.core.errors import ExportError
from prefect_botpenguin.core.size_history import (
    SizeHistory,
    append_sizes,
    history_location,
    write_history,
)
from prefect_botpenguin.flows.history import (
    history_export_artifact_key,
    segments_history_export,
)
from prefect_botpenguin.flows.report import segments_report
from prefect_botpenguin.flows.sync import WatchStep, segments_sync
from prefect_botpenguin.flows.watch import segments_watch
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS, SandboxServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]
TOKEN = "6a1c0ffee5a1e0000b0a7e19"
VIP, SAO_PAULO = SAMPLE_SEGMENTS[0]["_id"], SAMPLE_SEGMENTS[1]["_id"]
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def label() -> str:
    return f"Trend {uuid.uuid4().hex[:8]}"


def seed(state: Path, account: str, vip: list[int], sao_paulo: list[int] | None = None) -> None:
    """Record one point per run, an hour apart, as the watch would."""
    history = SizeHistory(account=account)
    for hour, size in enumerate(vip):
        sizes = {VIP: size, SAO_PAULO: (sao_paulo or [])[hour] if sao_paulo else None}
        history = append_sizes(
            history, sizes, T0 + timedelta(hours=hour), names={VIP: "VIP tea club"}
        )
    write_history(history, history_location(str(state), account))


async def summary_of(account: str) -> str:
    data = (await latest_artifact(f"botpenguin-segments-{account_slug(account)}-summary")).data
    assert isinstance(data, str)
    return data


async def test_report_summary_draws_each_recorded_trend_and_a_dash_elsewhere(
    account: SandboxServer, tmp_path: Path
) -> None:
    name = label()
    seed(tmp_path, name, [100, 200, 300, 400, 500, 600, 700, 800], [1300] * 8)

    await segments_report(account=name, state=str(tmp_path))

    summary = await summary_of(name)
    assert "| Name | Contacts | ID | Trend |" in summary
    assert f"| VIP tea club | 412 | `{VIP}` | ▁▂▃▄▅▆▇█ 100 → 800 (+700%) |" in summary
    assert f"| Clientes de São Paulo | 1,287 | `{SAO_PAULO}` | ▄▄▄▄▄▄▄▄ 1300 → 1300 (±0%) |" in (
        summary
    )
    others = [line for line in summary.splitlines() if line.startswith("| ") and "`" in line][2:]
    assert len(others) == 4
    assert all(line.endswith("| — |") for line in others)


async def test_report_without_history_or_with_a_corrupt_one_shows_dashes_and_succeeds(
    account: SandboxServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    name = label()
    await segments_report(account=name, state=str(tmp_path / "nothing-here"))
    assert f"| VIP tea club | 412 | `{VIP}` | — |" in await summary_of(name)

    Path(history_location(str(tmp_path), name)).write_text("{truncated", encoding="utf-8")
    await segments_report(account=name, state=str(tmp_path))
    assert f"| VIP tea club | 412 | `{VIP}` | — |" in await summary_of(name)
    assert "No size trend: " in caplog.text
    assert "is not a prefect-botpenguin size history" in (caplog.text)


async def test_sync_draws_the_same_trend_in_the_report_artifact_it_publishes(
    account: SandboxServer, tmp_path: Path
) -> None:
    name = label()
    seed(tmp_path, name, [100, 200, 300, 400, 500, 600, 700, 800])

    await segments_sync(account=name, watch=WatchStep(enabled=False, state=str(tmp_path)))

    row = f"| VIP tea club | 412 | `{VIP}` | ▁▂▃▄▅▆▇█ 100 → 800 (+700%) |"
    assert row in await summary_of(name)


async def test_watch_artifact_ends_with_the_trend_including_this_run(
    account: SandboxServer, tmp_path: Path
) -> None:
    name = label()
    seed(tmp_path, name, [300, 350, 400])

    await segments_watch(account=name, state=str(tmp_path))

    data = (await latest_artifact(f"botpenguin-changes-{account_slug(name)}")).data
    assert isinstance(data, str)
    trend = data.split("## Size trend", 1)[1]
    assert f"| VIP tea club | `{VIP}` | ▁▄▇█ 300 → 412 (+37%) |" in trend, "this run's 412 last"
    assert f"| Clientes de São Paulo | `{SAO_PAULO}` | ▄ 1287 |" in trend


async def test_history_export_writes_every_format_and_links_it(tmp_path: Path) -> None:
    name = label()
    state = tmp_path / "state"
    seed(state, name, [100, 120, 90], [5, 6, 7])

    result = await segments_history_export(
        destination=str(tmp_path / "out" / "history.csv"), account=name, state=str(state)
    )

    assert (result.count, result.format) == (6, "csv")
    with (tmp_path / "out" / "history.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["id", "name", "at", "size", "source"]
    assert [(row["id"], row["size"]) for row in rows if row["id"] == VIP] == [
        (VIP, "100"),
        (VIP, "120"),
        (VIP, "90"),
    ]
    link = (await latest_artifact(history_export_artifact_key(name))).data
    assert isinstance(link, str)
    assert "history.csv" in link

    parquet = tmp_path / "out" / "vip.data"
    await segments_history_export(
        destination=str(parquet), account=name, state=str(state), segments=[VIP], format="parquet"
    )
    assert [row["size"] for row in pq.read_table(parquet).to_pylist()] == [100, 120, 90]

    await segments_history_export(
        destination=f"memory://history-{name}.json", account=name, state=str(state)
    )


async def test_history_export_without_history_fails_in_one_line_and_keeps_the_old_file(
    tmp_path: Path,
) -> None:
    previous = tmp_path / "history.json"
    previous.write_text('["previous"]', encoding="utf-8")
    name = label()

    with pytest.raises(ExportError) as raised:
        await segments_history_export(
            destination=str(previous), account=name, state=str(tmp_path / "state")
        )

    message = str(raised.value)
    assert "\n" not in message
    assert f"No size history for account {name!r}" in message
    assert "Nothing was written." in message
    assert json.loads(previous.read_text(encoding="utf-8")) == ["previous"]

    with pytest.raises(ExportError, match="Cannot tell the export format"):
        await segments_history_export(destination=str(tmp_path / "h.txt"), account=name)
