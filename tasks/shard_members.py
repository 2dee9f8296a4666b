"""Member files of many accounts at once: each account's contacts streamed into its own file.

The members counterpart of ``core.fanout.collect_segments``, for one shard (or a one-shard
fan-out): one shared connection pool, at most ``concurrency`` accounts at work at once --
and since an account's export sends one request at a time (``member_export`` reads one page
ahead of the writer, never two), at most ``concurrency`` API calls in flight. A rate limit
paces every request through the pool's request hook. A failing account fails only itself.
Contacts go only into the files; what comes back is counts and locations.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import httpx
from prefect.filesystems import WritableFileSystem
from pydantic import SecretStr

from .core.client import BotPenguinClient, Logger
from .core.connection import shared_http_client
from .core.errors import BotPenguinError
from .core.fanout import FanoutAccount, Pace, account_error_line
from .core.formats import ExportFormat
from .core.partner import get_customer_token
from .core.settings import load_settings
from .core.shards import AccountRef, ShardAccount, account_destination
from .member_export import write_members_export


async def collect_members(
    accounts: Sequence[tuple[AccountRef, FanoutAccount | None]],
    *,
    partner: FanoutAccount | None,
    export: str,
    shard: int,
    segment_ids: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
    format: ExportFormat | None = None,
    filesystem: WritableFileSystem | None = None,
    concurrency: int = 8,
    pace: Pace | None = None,
    sweep_leftovers: bool = False,
    logger: Logger,
) -> list[ShardAccount]:
    """Export every account's members to ``export`` (``{account}`` filled in), concurrently.

    ``accounts`` pairs each reference with its loaded account (a block's token and host);
    a customer reference has ``None`` there and gets its token from ``partner``.
    ``sweep_leftovers`` (a re-run shard) removes each file's temp leftovers before writing it.
    """
    settings = load_settings()
    slots = asyncio.Semaphore(max(1, concurrency))
    async with shared_http_client(concurrency, ca_bundle=settings.ca_bundle) as http:
        if pace is not None:
            http.event_hooks["request"].append(_paced(pace))

        def client(token: SecretStr, base_url: str) -> BotPenguinClient:
            return BotPenguinClient.from_settings(
                settings, api_token=token, base_url=base_url, http_client=http, logger=logger
            )

        async def one(ref: AccountRef, account: FanoutAccount | None) -> ShardAccount:
            started = time.monotonic()
            token: SecretStr | None = None
            async with slots:
                try:
                    if account is not None:
                        token, base_url = account.token, account.base_url
                    elif partner is not None and ref.customer_id is not None:
                        token = await get_customer_token(
                            client(partner.token, partner.base_url), ref.customer_id
                        )
                        base_url = partner.base_url
                    else:
                        raise BotPenguinError("no partner credentials for this customer")
                    written = await write_members_export(
                        client(token, base_url),
                        account_destination(export, ref, shard),
                        segment_ids=list(segment_ids) if segment_ids else None,
                        format=format,
                        filesystem=filesystem,
                        fields=list(fields) if fields else None,
                        sweep_leftovers=sweep_leftovers,
                    )
                except Exception as exc:  # isolation: one account's failure is its own line
                    secrets = [token, partner.token if partner is not None else None]
                    error = account_error_line(exc, secrets)
                    logger.warning("Account %s failed: %s", ref.label, error)
                    return ShardAccount(
                        label=ref.label,
                        customer_id=ref.customer_id,
                        error=error,
                        seconds=time.monotonic() - started,
                    )
            return ShardAccount(
                label=ref.label,
                customer_id=ref.customer_id,
                segment_count=len(written.segments),
                member_count=written.count,
                files=[file.destination for file in written.files],
                seconds=time.monotonic() - started,
            )

        return list(await asyncio.gather(*(one(ref, account) for ref, account in accounts)))


def _paced(pace: Pace) -> Any:
    async def hook(request: httpx.Request) -> None:
        await pace()

    return hook
