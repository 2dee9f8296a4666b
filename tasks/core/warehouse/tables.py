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
        Column("account", ACCOUNT, primary_key=True),
        Column("segment_id", ID, primary_key=True),
        Column("name", String, nullable=True),
        Column("data", JSON_TYPE, nullable=False),
        Column("data_hash", HASH, nullable=False),
        _at("first_seen_at"),
        _at("updated_at"),
        Column("run_id", String(36), nullable=False),
    )
    versions = Table(
        f"{p}segment_versions",
        metadata,
        Column("account", ACCOUNT, primary_key=True),
        Column("segment_id", ID, primary_key=True),
        Column("valid_from", DateTime(timezone=True), primary_key=True),
        _at("valid_to", nullable=True),
        Column("name", String, nullable=True),
        Column("definition", JSON_TYPE, nullable=False),
        Column("definition_hash", HASH, nullable=False),
        Column("run_id", String(36), nullable=False),
        Index(f"{p}segment_versions_open", "account", "segment_id", "valid_to"),
    )
    sizes = Table(
        f"{p}segment_sizes",
        metadata,
        Column("account", ACCOUNT, primary_key=True),
        Column("segment_id", ID, primary_key=True),
        Column("measured_at", DateTime(timezone=True), primary_key=True),
        Column("contact_count", BigInteger, nullable=False),
        Column("run_id", String(36), nullable=False),
    )
    memberships = Table(
        f"{p}memberships",
        metadata,
        Column("account", ACCOUNT, primary_key=True),
        Column("segment_id", ID, primary_key=True),
        Column("contact_id", ID, primary_key=True),
        Column("valid_from", DateTime(timezone=True), primary_key=True),
        _at("valid_to", nullable=True),
        Index(f"{p}memberships_open", "account", "segment_id", "valid_to"),
    )
    contacts = Table(
        f"{p}contacts",
        metadata,
        Column("account", ACCOUNT, primary_key=True),
        Column("contact_id", ID, primary_key=True),
        Column("data", JSON_TYPE, nullable=False),
        Column("data_hash", HASH, nullable=False),
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
