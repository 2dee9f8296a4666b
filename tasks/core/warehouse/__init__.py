"""The warehouse: segments, versions, sizes and memberships in a SQL database. No Prefect.

``load_account`` is the one entry: one account, one transaction. ``tables`` defines the six
tables (prefix and schema configurable), ``scd2`` the segment side, ``memberships`` the
streamed membership diff, ``engine`` the URL and its password.
"""

from __future__ import annotations

from .engine import (
    DEFAULT_DATABASE_FILE,
    WarehouseSettings,
    create_warehouse_engine,
    load_warehouse_settings,
    parse_url,
    shown,
    target_url,
)
from .load import LoadOptions, LoadResult, MemberPages, count_rows, ensure_tables, load_account
from .tables import DEFAULT_PREFIX, WarehouseTables, warehouse_tables

__all__ = [
    "DEFAULT_DATABASE_FILE",
    "DEFAULT_PREFIX",
    "LoadOptions",
    "LoadResult",
    "MemberPages",
    "WarehouseSettings",
    "WarehouseTables",
    "count_rows",
    "create_warehouse_engine",
    "ensure_tables",
    "load_account",
    "load_warehouse_settings",
    "parse_url",
    "shown",
    "target_url",
    "warehouse_tables",
]
