"""Which database a load writes to, and how it is named in logs without its password.

The target is any SQLAlchemy URL of PostgreSQL or SQLite; the load runs on SQLAlchemy's async
engine, so a sync driver name is swapped for the async one Prefect already installs (asyncpg,
aiosqlite). The password never travels inside a URL the pack prints or stores: it comes from
``BOTPENGUIN_DB_PASSWORD``, from ``BOTPENGUIN_DB_URL`` (a secret), or from a saved block,
and every URL shown goes through ``shown`` (``render_as_string(hide_password=True)``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..errors import ConfigurationError
from ..settings import read_settings
from .tables import DEFAULT_PREFIX
from .upsert import check_dialect

DEFAULT_DATABASE_FILE = ".botpenguin/snapshots/warehouse.sqlite"
"""The embedded database (SQLite, no server) used when no database is given."""
ASYNC_DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}


class WarehouseSettings(BaseSettings):
    """Where loads go when no database is given (env prefix ``BOTPENGUIN_``)."""

    model_config = SettingsConfigDict(
        env_prefix="BOTPENGUIN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    db_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of the warehouse (may hold the password: it is a secret).",
    )
    db_password: SecretStr | None = Field(
        default=None, description="Password for a database URL given without one."
    )
    db_prefix: str = Field(default=DEFAULT_PREFIX, description="Prefix of the table names.")
    db_schema: str | None = Field(
        default=None, description="Database schema of the tables (PostgreSQL); none: default."
    )


def load_warehouse_settings() -> WarehouseSettings:
    """``WarehouseSettings`` from the environment, or one ``ConfigurationError`` line."""
    return read_settings(WarehouseSettings, "database settings")


def parse_url(text: str | URL) -> URL:
    """``text`` as a SQLAlchemy URL; a typo is one line that does not echo the text."""
    if isinstance(text, URL):
        return text
    try:
        return make_url(text)
    except (ArgumentError, ValueError):
        raise ConfigurationError(
            "The database is not a SQLAlchemy URL; give one such as "
            "postgresql://user@host/db or sqlite:///path/warehouse.sqlite."
        ) from None


def shown(url: URL) -> str:
    """The URL as logs, artifacts and errors may show it: the password masked."""
    return url.render_as_string(hide_password=True)


def target_url(database: str | URL | None, settings: WarehouseSettings | None = None) -> URL:
    """The URL to connect to: ``database``, else ``BOTPENGUIN_DB_URL``, else the embedded file.

    A URL without a password takes ``BOTPENGUIN_DB_PASSWORD`` when set.
    """
    settings = settings or load_warehouse_settings()
    if database is None and settings.db_url is not None:
        database = settings.db_url.get_secret_value()
    if database is None:
        Path(DEFAULT_DATABASE_FILE).parent.mkdir(parents=True, exist_ok=True)
        database = f"sqlite:///{DEFAULT_DATABASE_FILE}"
    url = parse_url(database)
    if url.password is None and settings.db_password is not None and url.host:
        url = url.set(password=settings.db_password.get_secret_value())
    backend = url.get_backend_name()
    check_dialect(backend)
    return url.set(drivername=f"{backend}+{ASYNC_DRIVERS[backend]}")


def create_warehouse_engine(url: URL) -> AsyncEngine:
    """An async engine for ``url`` (already given its async driver by ``target_url``)."""
    return create_async_engine(url, pool_pre_ping=True)


__all__ = [
    "DEFAULT_DATABASE_FILE",
    "WarehouseSettings",
    "create_warehouse_engine",
    "load_warehouse_settings",
    "parse_url",
    "shown",
    "target_url",
]
