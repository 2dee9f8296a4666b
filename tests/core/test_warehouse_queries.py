"""The three queries of docs/warehouse.md on the embedded database (SQLite)."""

from __future__ import annotations

from warehouse_data import check_page_queries


async def test_the_three_queries_of_the_warehouse_page_return_the_right_rows(engine):
    await check_page_queries(engine, naive=True)
