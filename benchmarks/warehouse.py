"""The warehouse load against dlt, into the same PostgreSQL (run by hand, not by pytest).

    uv run python -m benchmarks.warehouse --db postgresql://postgres:PW@127.0.0.1:5432/bench

Same data on both sides, generated in this process (no API in the way, so the rows measure
the load): 20 segments and 1,000,000 membership rows (50,000 per segment), then a 1% churn
(half of it leaves, half joins). The pack runs ``load_account`` (one transaction, SCD2 in
SQL over a staging table); dlt runs a pipeline with ``merge`` for the segments and ``scd2``
for the memberships (dlt 1.31, postgres destination, psycopg2). Each side gets a database of
its own on the same server. Peak memory is tracemalloc's peak of the pack's load at 1,000,000
rows and at 100,000. Prints the table rows for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from prefect_botpenguin.core.members import Contact, MemberPage
from prefect_botpenguin.core.models import Segment
from prefect_botpenguin.core.warehouse import (
    LoadOptions,
    create_warehouse_engine,
    load_account,
    target_url,
)
from prefect_botpenguin.core.warehouse.engine import WarehouseSettings

SEGMENTS = 20
PAGE = 500


def audience(total: int, churn: float = 0.0) -> dict[str, list[str]]:
    """``total`` contact ids spread over the segments; with ``churn``, that share replaced."""
    per = total // SEGMENTS
    members: dict[str, list[str]] = {}
    for s in range(SEGMENTS):
        ids = [f"{s:04d}{i:020d}" for i in range(per)]
        moved = int(per * churn / 2)
        if moved:
            ids = ids[moved:] + [f"{s:04d}{i:020d}" for i in range(per, per + moved)]
        members[f"seg{s:020d}"] = ids
    return members


def segments() -> list[Segment]:
    return [
        Segment.model_validate({"_id": sid, "segmentName": f"Segment {n}", "contactCount": 1})
        for n, sid in enumerate(f"seg{s:020d}" for s in range(SEGMENTS))
    ]


def built_pages(members: dict[str, list[str]]) -> dict[str, list[MemberPage]]:
    """Every page, parsed before the clock starts: both sides get records already parsed."""
    return {
        sid: [
            MemberPage(sid, n, [Contact.model_construct(id=c) for c in ids[i : i + PAGE]])
            for n, i in enumerate(range(0, len(ids), PAGE), start=1)
        ]
        for sid, ids in members.items()
    }


def lazy_pages(members: dict[str, list[str]]) -> dict[str, Iterator[MemberPage]]:
    """The same pages made one at a time (the memory rows: nothing held but the page)."""
    return {
        sid: (
            MemberPage(sid, 1, [Contact.model_construct(id=c) for c in ids[i : i + PAGE]])
            for i in range(0, len(ids), PAGE)
        )
        for sid, ids in members.items()
    }


def _pages(pages: dict[str, Any]) -> Any:
    def listing(segment_ids: Sequence[str]) -> AsyncIterator[MemberPage]:
        async def walk() -> AsyncIterator[MemberPage]:
            for sid in segment_ids:
                for page in pages[sid]:
                    yield page

        return walk()

    return listing


def pack_load(url: str, pages: dict[str, Any]) -> float:
    """One load with the pack; its wall seconds."""

    async def run() -> None:
        engine = create_warehouse_engine(target_url(url, WarehouseSettings()))
        try:
            await load_account(
                engine,
                account="bench",
                segments=segments(),
                member_pages=_pages(pages),
                options=LoadOptions(members=tuple(pages), accept_drop=True),
            )
        finally:
            await engine.dispose()

    started = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - started


def dlt_load(url: str, members: dict[str, list[str]], workdir: Path) -> float:
    """The same load with dlt: merge for segments, scd2 for memberships; its wall seconds."""
    os.environ.update(RUNTIME__DLTHUB_TELEMETRY="false", DLT_DATA_DIR=str(workdir / "data"))
    import dlt

    @dlt.resource(name="segments", write_disposition="merge", primary_key="_id")
    def segment_rows() -> Iterator[dict[str, Any]]:
        for segment in segments():
            yield segment.to_api_dict()

    @dlt.resource(
        name="memberships", write_disposition={"disposition": "merge", "strategy": "scd2"}
    )
    def membership_rows() -> Iterator[list[dict[str, str]]]:
        for sid, ids in members.items():
            for start in range(0, len(ids), PAGE):
                yield [{"segment_id": sid, "contact_id": c} for c in ids[start : start + PAGE]]

    pipeline = dlt.pipeline(
        pipeline_name="botpenguin_warehouse",
        destination=dlt.destinations.postgres(credentials=url),
        dataset_name="botpenguin",
        pipelines_dir=str(workdir / "pipelines"),
    )
    started = time.perf_counter()
    pipeline.run([segment_rows(), membership_rows()])
    return time.perf_counter() - started


def fresh_database(admin_url: str, name: str) -> str:
    """Drop and create ``name`` on the server of ``admin_url``; its URL."""
    admin = make_url(admin_url).set(drivername="postgresql+psycopg2")  # the bench group's driver
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def peak_mb(url: str, total: int) -> float:
    """tracemalloc's peak during one initial pack load of ``total`` rows (data made lazily)."""
    pages = lazy_pages(audience(total))
    tracemalloc.start()
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]
    pack_load(url, pages)
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    return peak / 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True, help="PostgreSQL URL of a database to admin from")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    rows, work = args.rows, Path(tempfile.mkdtemp(prefix="bench-warehouse-"))
    initial, churned = audience(rows), audience(rows, churn=0.01)

    pack_url, dlt_url = fresh_database(args.db, "bench_pack"), fresh_database(args.db, "bench_dlt")
    pack_first = pack_load(pack_url, built_pages(initial))
    pack_incr = pack_load(pack_url, built_pages(churned))
    dlt_first, dlt_incr = dlt_load(dlt_url, initial, work), dlt_load(dlt_url, churned, work)
    small = peak_mb(fresh_database(args.db, "bench_mem_small"), rows // 10)
    large = peak_mb(fresh_database(args.db, "bench_mem_large"), rows)

    case = f"i. warehouse: {rows:,} membership rows into PostgreSQL"
    print(
        f"| {case}, initial | pack: load_account | {pack_first:.1f}s | dlt {dlt_first:.1f}s "
        f"| {pack_first / dlt_first:.2f}x | <= 1x | "
        f"{'yes' if pack_first <= dlt_first else '**no**'} |"
    )
    print(
        f"| {case}, 1% churn | pack: load_account | {pack_incr:.1f}s | dlt {dlt_incr:.1f}s "
        f"| {pack_incr / dlt_incr:.2f}x | <= 0.5x | "
        f"{'yes' if pack_incr <= 0.5 * dlt_incr else '**no**'} |"
    )
    print(
        f"| {case}, peak memory | pack: {rows:,} vs {rows // 10:,} rows | {large:.1f} MB "
        f"| {small:.1f} MB | {large / small:.2f}x | <= 1.2x | "
        f"{'yes' if large <= 1.2 * small else '**no**'} |"
    )


if __name__ == "__main__":
    main()
