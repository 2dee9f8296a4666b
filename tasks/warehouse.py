"""The ``load_segments`` task (``aload_segments`` in async code): an account into a database.

The Prefect layer around ``core.warehouse.load_account``: it resolves the database (a URL, a
saved ``SqlAlchemyConnector`` block, ``BOTPENGUIN_DB_URL``, or the embedded SQLite file),
holds the account's lease -- the watch's global concurrency limit, so two loads (or a load
and a watch) of one account never interleave -- streams the chosen segments' members from
the API, and publishes a counts artifact. Logs, artifacts and the result show the URL with
its password masked; contacts reach only the contacts table, and only when asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from datetime import datetime

from prefect import get_run_logger
from prefect.artifacts import acreate_markdown_artifact
from prefect.context import FlowRunContext
from sqlalchemy.engine import URL

from ._dispatch import dual_task
from .core.accounts import account_slug
from .core.change_kinds import load_change_kind_rules
from .core.client import BotPenguinClient
from .core.members import MemberPage, iter_members
from .core.models import Segment
from .core.warehouse import (
    LoadOptions,
    LoadResult,
    create_warehouse_engine,
    load_account,
    load_warehouse_settings,
    shown,
    target_url,
)
from .core.watch_state import load_watch_settings
from .credentials import BotPenguinCredentials
from .membership import ALL_SEGMENTS
from .watch_lock import watch_lock


def load_artifact_key(account: str) -> str:
    """The stable key of an account's load artifact (one version per load)."""
    return f"botpenguin-load-{account_slug(account)}"


def _client(credentials: BotPenguinCredentials | None) -> BotPenguinClient:
    logger = get_run_logger()
    if credentials is not None:
        return credentials.get_client(logger=logger)
    return BotPenguinClient.from_settings(logger=logger)


async def _load_segments(
    segments: list[Segment],
    account: str,
    database: str | URL | None = None,
    credentials: BotPenguinCredentials | None = None,
    members: list[str] | None = None,
    contact_fields: list[str] | None = None,
    accept_drop: bool = False,
    fetched_at: datetime | None = None,
) -> LoadResult:
    """Load an account's segments (and members, when asked) into a database, exactly once.

    One load is one transaction: it commits whole or leaves the database as it was. Loading
    the same answer again changes no row except its own ``runs`` row.

    Args:
        segments: The account's segments, from ``fetch_segments``.
        account: The account's label; every row carries it.
        database: A SQLAlchemy URL (PostgreSQL or SQLite) without its password, which comes
            from ``BOTPENGUIN_DB_PASSWORD``; a URL object may hold it. None:
            ``BOTPENGUIN_DB_URL``, else the embedded file
            ``.botpenguin/snapshots/warehouse.sqlite``.
        credentials: The block the members are read with (None: ``BOTPENGUIN_*`` settings).
        members: Segment ids whose memberships to load, or ``["all"]``; None: segments only.
        contact_fields: Contact fields to keep in the contacts table (``["all"]``: every
            one); None: contact ids only, no contacts table rows.
        accept_drop: Trust a fetch or a member listing that lost most of the account at once.
        fetched_at: When the segments were fetched: the rows' ``valid_from`` (None: now).

    Returns:
        The load's run row: ids and counts.

    Example:
        Load the segments of a saved account into the embedded database:
        ```python
        from prefect import flow
        from prefect_botpenguin import BotPenguinCredentials, fetch_segments, load_segments

        @flow
        def to_warehouse() -> int:
            credentials = BotPenguinCredentials.load("BLOCK_NAME")
            segments = fetch_segments(credentials)
            loaded = load_segments(segments, "my-shop", credentials=credentials, members=["all"])
            return loaded.joins

        if __name__ == "__main__":
            to_warehouse()
        ```
    """
    logger = get_run_logger()
    warehouse = load_warehouse_settings()
    url = target_url(database, warehouse)
    watch = load_watch_settings()
    options = LoadOptions(
        members=_chosen(members, segments),
        contact_fields=tuple(contact_fields or ()),
        accept_drop=accept_drop,
        drop_guard_share=watch.drop_guard_share,
        drop_guard_runs=watch.drop_guard_runs,
        prefix=warehouse.db_prefix,
        schema=warehouse.db_schema,
    )
    context = FlowRunContext.get()
    flow_run_id = str(context.flow_run.id) if context and context.flow_run else None
    engine = create_warehouse_engine(url)
    try:
        async with AsyncExitStack() as stack:
            pages = None
            if options.members:  # no API client (nor token) needed for segments alone
                client = await stack.enter_async_context(_client(credentials))

                def pages(segment_ids: Sequence[str]) -> AsyncIterator[MemberPage]:
                    return iter_members(client, segment_ids)

            async with watch_lock(account, timeout=watch.watch_lock_timeout):
                result = await load_account(
                    engine,
                    account=account,
                    segments=segments,
                    member_pages=pages,
                    options=options,
                    rules=load_change_kind_rules(),
                    flow_run_id=flow_run_id,
                    at=fetched_at,
                )
    finally:
        await engine.dispose()
    where = shown(url)
    if result.held:
        logger.warning(
            "Load of account %r held: the fetch or the member listing lost all or most of what "
            "%s holds; only the run row was written. It is accepted when %d load(s) in a row "
            "see it, or now with accept_drop=True (--accept-drop).",
            account,
            where,
            watch.drop_guard_runs,
        )
    else:
        logger.info("Loaded account %r into %s: %s", account, where, _counts_text(result))
    await acreate_markdown_artifact(
        _artifact_markdown(result, where),
        key=load_artifact_key(account),
        description=f"Warehouse load of BotPenguin account {account!r}.",
    )
    return result


def _chosen(members: list[str] | None, segments: list[Segment]) -> tuple[str, ...]:
    if not members:
        return ()
    if ALL_SEGMENTS in members:
        return tuple(segment.id for segment in segments)
    return tuple(dict.fromkeys(members))


def _counts_text(result: LoadResult) -> str:
    return ", ".join(f"{name} {value}" for name, value in result.counts().items())


def _artifact_markdown(result: LoadResult, where: str) -> str:
    rows = "\n".join(f"| {name} | {value} |" for name, value in result.counts().items())
    state = "held by the drop guard (only the run row written)" if result.held else "committed"
    return (
        f"# Warehouse load of {result.account}\n\n"
        f"Database `{where}`, run `{result.run_id}`, {state}.\n\n"
        f"| Count | Value |\n|---|---:|\n{rows}\n"
    )


aload_segments, load_segments = dual_task(
    _load_segments,
    name="load-botpenguin-segments",
    description="Load an account's segments and memberships into a database, in one transaction.",
    timeout_seconds=3600,
)


__all__ = ["aload_segments", "load_artifact_key", "load_segments"]
