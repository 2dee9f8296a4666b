"""``segments_load``: an account's segments and memberships into a SQL database, with history.

The database is a SQLAlchemy URL given as a secret (the run's parameters keep
``**********``), ``BOTPENGUIN_DB_URL`` on the worker, or -- without either -- the embedded
SQLite file under the state directory, so a first run needs no server.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr
from pydantic.json_schema import SkipJsonSchema

from ..core.warehouse import LoadResult, parse_url
from ..segments import fetch_segments
from ..warehouse import load_segments
from ..warehouse_block import connector_type, connector_url
from .common import CredentialsParam, resolve_account
from .pack_flow import pack_flow

_CONNECTOR = connector_type()
DatabaseBlockParam: Any = SkipJsonSchema[str | None]  # type: ignore[misc]
if _CONNECTOR is not None:  # a class known at run time only
    DatabaseBlockParam = _CONNECTOR | SkipJsonSchema[str] | None
"""A saved SqlAlchemyConnector block, picked in the run form (with prefect-sqlalchemy, the
``[database]`` extra), or its name; without the extra only a name, which then fails clearly."""


@pack_flow("botpenguin-segments-load")
async def segments_load(
    database: SecretStr | None = None,
    database_block: DatabaseBlockParam = None,
    credentials: CredentialsParam = None,
    account: str | None = None,
    members: list[str] | None = None,
    contact_fields: list[str] | None = None,
    accept_drop: bool = False,
) -> LoadResult:
    """Load an account's segments (and members) into a database: one transaction per load.

    Tables: current segments, segment versions and memberships (SCD2, valid_from and
    valid_to), sizes per run and the runs themselves (docs/warehouse.md). Loading the same
    answer again changes nothing but the runs table; a failed run changes nothing at all.

    Args:
        database: SQLAlchemy URL of a PostgreSQL or SQLite database, kept as a secret (the
            run shows **********). Leave empty to use BOTPENGUIN_DB_URL, else the embedded
            file .botpenguin/snapshots/warehouse.sqlite. A URL without a password takes
            BOTPENGUIN_DB_PASSWORD.
        database_block: A saved SQLAlchemy Connector block (pick one; needs
            prefect-botpenguin[database]). The run keeps a reference to it, not its password.
            Used when database is empty.
        credentials: {CREDENTIALS_HELP}
        account: Label for this account in every row and the artifact key; defaults to the
            block name, else BOTPENGUIN_ACCOUNT.
        members: Segment ids whose memberships to load, or ["all"]. Leave empty to load the
            segments only.
        contact_fields: Contact fields to keep in the contacts table, or ["all"]. Leave empty
            to keep contact ids only (contacts are personal data).
        accept_drop: Trust a fetch or member listing that lost all or most of the account at
            once, instead of holding it until the next load sees it too.
    """
    url = parse_url(database.get_secret_value()) if database is not None else None
    if url is None and database_block:
        url = await connector_url(database_block)
    target = await resolve_account(credentials, account)
    fetched_at = datetime.now(UTC)
    segments = await fetch_segments.aio(target.credentials)
    return await load_segments.aio(
        segments,
        target.label,
        database=url,
        credentials=target.credentials,
        members=members or None,
        contact_fields=contact_fields or None,
        accept_drop=accept_drop,
        fetched_at=fetched_at,
    )
