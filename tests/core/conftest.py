"""Fixtures for the Prefect-free core tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from prefect_botpenguin.core.warehouse import create_warehouse_engine, target_url
from prefect_botpenguin.core.warehouse.engine import WarehouseSettings


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An embedded warehouse (SQLite) of its own for each test."""
    engine = create_warehouse_engine(
        target_url(f"sqlite:///{tmp_path}/w.sqlite", WarehouseSettings())
    )
    yield engine
    await engine.dispose()
