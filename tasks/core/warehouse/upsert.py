"""INSERT ... ON CONFLICT for the two embedded dialects the load supports natively.

PostgreSQL and SQLite spell the upsert the same way, each with its own construct in
SQLAlchemy; a row is rewritten only when its hash differs, so a repeated load changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ..errors import ConfigurationError

SUPPORTED_DIALECTS = ("postgresql", "sqlite")


def check_dialect(name: str) -> None:
    """Refuse a database the load has no upsert for, before anything is written."""
    if name not in SUPPORTED_DIALECTS:
        raise ConfigurationError(
            f"The warehouse load supports PostgreSQL and SQLite, not {name!r}; give a "
            "postgresql:// or sqlite:// URL."
        )


async def upsert_contacts(
    conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]
) -> None:
    """Insert contacts, or update those whose ``data_hash`` changed."""
    if not rows:
        return
    module: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = module.insert(table)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.account, table.c.contact_id],
        set_={
            "data": excluded.data,
            "data_hash": excluded.data_hash,
            "updated_at": excluded.updated_at,
        },
        where=table.c.data_hash != excluded.data_hash,
    )
    await conn.execute(statement, list(rows))


__all__ = ["SUPPORTED_DIALECTS", "check_dialect", "upsert_contacts"]
