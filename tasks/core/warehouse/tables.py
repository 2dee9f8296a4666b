"""The warehouse's six tables as SQLAlchemy Core ``Table`` objects. No Prefect import.

Names take a prefix (default ``botpenguin_``) and, where the database has them, a schema, so
the tables sit beside a team's own without clashing. Every row carries the account label:
one database holds many accounts. JSON columns hold what the API sent (``JSONB`` on
PostgreSQL, so the README's queries can index into it); each has a ``*_hash`` beside it,
because PostgreSQL cannot compare ``json`` values and a hash compares in one index lookup.
Timestamps are timezone-aware (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)
from sqlalchemy.dialects.postgresql import JSONB

DEFAULT_PREFIX = "botpenguin_"
JSON_TYPE = JSON().with_variant(JSONB(), "postgresql")
ID = String(64)
"""Segment and contact ids (ObjectIds, 24 hex digits; room for other shapes)."""
ACCOUNT = String(200)
HASH = String(64)


def _at(name: str, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


def _key(*ids: str) -> list[Column[object]]:
    """The primary key every keyed table starts with: the account, then the ids in it."""
    keys: list[Column[object]] = [Column(name, ID, primary_key=True) for name in ids]
    return [Column("account", ACCOUNT, primary_key=True), *keys]


def _versioned(
    name: str, metadata: MetaData, ids: tuple[str, ...], *columns: Column[object]
) -> Table:
    """A history table (SCD type 2): the key, when each version held (``valid_to`` null while
    it still does), ``columns``, and an index that finds the open versions of a segment."""
    return Table(
        name,
        metadata,
        *_key(*ids),
        Column("valid_from", DateTime(timezone=True), primary_key=True),
        _at("valid_to", nullable=True),
        *columns,
        Index(f"{name}_open", "account", "segment_id", "valid_to"),
    )


def _json(name: str) -> list[Column[object]]:
    """A JSON column and its ``<name>_hash`` beside it (see this module's docstring)."""
    return [Column(name, JSON_TYPE, nullable=False), Column(f"{name}_hash", HASH, nullable=False)]


def _written_by() -> Column[object]:
    """The load run (``runs.run_id``) that wrote the row."""
    return Column("run_id", String(36), nullable=False)


@dataclass(frozen=True)
class WarehouseTables:
    """The six tables of one prefix/schema, and the ``MetaData`` that creates them."""

    metadata: MetaData
    segments: Table
    segment_versions: Table
    segment_sizes: Table
    memberships: Table
    contacts: Table
    runs: Table


def warehouse_tables(prefix: str = DEFAULT_PREFIX, schema: str | None = None) -> WarehouseTables:
    """The tables named ``<prefix>segments`` ... ``<prefix>runs``, in ``schema`` if given."""
    metadata = MetaData(schema=schema)
    p = prefix
    segments = Table(
        f"{p}segments",
        metadata,
        *_key("segment_id"),
        Column("name", String, nullable=True),
        *_json("data"),
        _at("first_seen_at"),
        _at("updated_at"),
        _written_by(),
    )
    versions = _versioned(
        f"{p}segment_versions",
        metadata,
        ("segment_id",),
        Column("name", String, nullable=True),
        *_json("definition"),
        _written_by(),
    )
    sizes = Table(
        f"{p}segment_sizes",
        metadata,
        *_key("segment_id"),
        Column("measured_at", DateTime(timezone=True), primary_key=True),
        Column("contact_count", BigInteger, nullable=False),
        _written_by(),
    )
    memberships = _versioned(f"{p}memberships", metadata, ("segment_id", "contact_id"))
    contacts = Table(
        f"{p}contacts",
        metadata,
        *_key("contact_id"),
        *_json("data"),
        _at("updated_at"),
    )
    runs = Table(
        f"{p}runs",
        metadata,
        Column("run_id", String(36), primary_key=True),
        Column("account", ACCOUNT, nullable=False, index=True),
        Column("flow_run_id", String(36), nullable=True),
        _at("loaded_at"),
        Column("held", Boolean, nullable=False),
        Column("segments", Integer, nullable=False),
        Column("segments_created", Integer, nullable=False),
        Column("segments_removed", Integer, nullable=False),
        Column("versions", Integer, nullable=False),
        Column("sizes", Integer, nullable=False),
        Column("members", BigInteger, nullable=False),
        Column("joins", BigInteger, nullable=False),
        Column("leaves", BigInteger, nullable=False),
        Column("contacts", BigInteger, nullable=False),
    )
    return WarehouseTables(metadata, segments, versions, sizes, memberships, contacts, runs)


__all__ = ["DEFAULT_PREFIX", "WarehouseTables", "warehouse_tables"]
