"""The three queries of docs/warehouse.md on the embedded database (SQLite)."""

from __future__ import annotations

import pytest
from warehouse_data import check_page_queries

from prefect_botpenguin.core.warehouse import create_warehouse_engine, target_url
from prefect_botpenguin.core.warehouse.engine import WarehouseSettings


@pytest.fixture
async def engine(tmp_path):
    engine = create_warehouse_engine(
        target_url(f"sqlite:///{tmp_path}/w.sqlite", WarehouseSettings())
    )
    yield engine
    await engine.dispose()


async def test_the_three_queries_of_the_warehouse_page_return_the_right_rows(engine):
    await check_page_queries(engine, naive=True)
