"""The optional ``SqlAlchemyConnector`` block (prefect-sqlalchemy, the ``[database]`` extra).

A saved connector keeps the database's password on the Prefect server, so a deployment's
runs refer to the block and never hold the password. The extra is never required: without
it ``connector_type`` is None and the load takes a URL.
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy.engine import URL

from .core.errors import ConfigurationError
from .core.warehouse import parse_url

CONNECTOR_SLUG = "sqlalchemy-connector"


def connector_type() -> type[Any] | None:
    """``prefect_sqlalchemy.SqlAlchemyConnector`` when the extra is installed, else None."""
    try:
        module = importlib.import_module("prefect_sqlalchemy")
    except ImportError:
        return None
    connector: type[Any] = module.SqlAlchemyConnector
    return connector


async def connector_url(block: Any) -> URL:
    """The URL (password included, to connect with) of a connector block or its saved name."""
    connector = connector_type()
    if isinstance(block, str):
        if connector is None:
            raise ConfigurationError(
                f"The database block {block!r} needs prefect-sqlalchemy; install "
                "prefect-botpenguin[database], or give a database URL instead."
            )
        try:
            block = await connector.aload(block.removeprefix(f"{CONNECTOR_SLUG}/"))
        except ValueError:
            raise ConfigurationError(
                f"No SQLAlchemy Connector block named {block!r} on this Prefect server; create "
                "it in the UI (Blocks) or with SqlAlchemyConnector(...).save(name)."
            ) from None
    info = block.connection_info
    if hasattr(info, "create_url"):
        created: URL = info.create_url()
        return created
    return parse_url(str(info))


__all__ = ["CONNECTOR_SLUG", "connector_type", "connector_url"]
