"""Which database a load writes to, and that its password never shows."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from prefect_botpenguin.core.errors import ConfigurationError
from prefect_botpenguin.core.warehouse import shown, target_url
from prefect_botpenguin.core.warehouse.engine import DEFAULT_DATABASE_FILE, WarehouseSettings

PASSWORD = "s3cr3t-Pa55"


def test_a_sync_driver_becomes_the_async_one_and_the_password_is_masked():
    url = target_url(f"postgresql://loader:{PASSWORD}@db.internal/crm", WarehouseSettings())
    assert url.drivername == "postgresql+asyncpg"
    assert url.password == PASSWORD
    assert PASSWORD not in shown(url)
    assert PASSWORD not in repr(url)
    assert PASSWORD not in str(url)


def test_a_url_without_a_password_takes_botpenguin_db_password():
    settings = WarehouseSettings(db_password=SecretStr(PASSWORD))
    assert target_url("postgresql://loader@db/crm", settings).password == PASSWORD


def test_botpenguin_db_url_is_the_default_and_then_the_embedded_file(monkeypatch, tmp_path):
    monkeypatch.setenv("BOTPENGUIN_DB_URL", f"postgresql://u:{PASSWORD}@h/crm")
    assert target_url(None, WarehouseSettings()).host == "h"
    monkeypatch.chdir(tmp_path)
    url = target_url(None, WarehouseSettings(db_url=None))
    assert url.drivername == "sqlite+aiosqlite"
    assert url.database == DEFAULT_DATABASE_FILE
    assert (tmp_path / DEFAULT_DATABASE_FILE).parent.is_dir()


def test_a_bad_url_is_one_line_that_does_not_echo_it():
    with pytest.raises(ConfigurationError) as caught:
        target_url(f"not a url {PASSWORD}", WarehouseSettings())
    assert PASSWORD not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_database_without_an_upsert_is_refused_before_anything_is_written():
    with pytest.raises(ConfigurationError, match="PostgreSQL and SQLite"):
        target_url(f"mysql://u:{PASSWORD}@h/db", WarehouseSettings())


def test_the_ddl_on_the_warehouse_page_is_what_the_load_creates():
    from pathlib import Path

    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateIndex, CreateTable

    from prefect_botpenguin.core.warehouse import warehouse_tables

    dialect = postgresql.dialect()
    statements = []
    for table in warehouse_tables().metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)))
        statements.extend(
            str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes
        )
    page = (Path(__file__).resolve().parents[2] / "docs" / "warehouse.md").read_text("utf-8")
    documented = " ".join(page.split("```sql\n", 1)[1].split("```", 1)[0].split())
    generated = " ".join(" ".join(f"{s.strip()};" for s in statements).split())
    assert documented.replace(", ", ",") == generated.replace(", ", ",")
