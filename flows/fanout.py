"""``segments_fanout``: collect the segments of many accounts at once, then save them all.

Accounts are saved credentials blocks, or every customer a partner lists, or both. One broken
account never stops the others: the run records and exports everything it could collect and
only then ends Failed, naming each failed account and why.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.filesystems import WritableFileSystem
from pydantic import Field

from .._compat import eager_annotations
from ..core.accounts import account_slug
from ..core.errors import BotPenguinError, ConfigurationError, MissingTokenError
from ..core.fanout import (
    DEFAULT_CONCURRENCY,
    AccountOutcome,
    FanoutAccount,
    FanoutReport,
    FanoutSummary,
    iter_segments_with_account,
)
from ..core.formats import ExportFormat, format_for
from ..credentials import BotPenguinCredentials
from ..exports import export_segments
from ..fanout import fetch_segments_fanout, publish_fanout_artifacts
from .common import CredentialsParam, FilesystemParam, resolve_account, resolve_filesystem

ACCOUNT_PLACEHOLDER = "{account}"
COMBINED_EXPORT_LABEL = "fanout"

Concurrency = Annotated[int, Field(ge=1, le=256)]


@flow(name="botpenguin-segments-fanout", log_prints=False)
@eager_annotations
async def segments_fanout(
    credentials_blocks: list[str] | None = None,
    partner_credentials: CredentialsParam = None,
    partner_from_env: bool = False,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
    concurrency_limit: str | None = None,
    rate_limit: str | None = None,
    export: str | None = None,
    export_format: ExportFormat | None = None,
    export_filesystem: FilesystemParam = None,
) -> FanoutSummary:
    """Collect many accounts' segments, publish them, export them, then fail if any failed.

    Options are checked before the first request. A credentials block that cannot be loaded
    counts as a failed account, like a refused token or a dead host. Returns counts per
    account, not the segments (those are in the artifacts and exports: a flow's result must
    stay small). Prefect's UI shows the Args below as each parameter's help text.

    Args:
        credentials_blocks: Names of saved BotPenguin Credentials blocks, one per account.
        partner_credentials: A saved BotPenguin Credentials block (pick one, or give its
            name) holding a partner's token: every customer the partner lists is collected too.
        partner_from_env: Use BOTPENGUIN_API_TOKEN and BOTPENGUIN_BASE_URL as the partner's
            credentials instead of a block.
        concurrency: Most BotPenguin API calls in flight at once, across all accounts.
        concurrency_limit: Name of a Prefect global concurrency limit that bounds several
            flows together: this run holds min(concurrency, limit) of its slots while it runs
            and keeps its requests within them. Leave empty for none.
        rate_limit: Name of a Prefect global concurrency limit with slot decay that paces
            every API call. Leave empty for none.
        export: Where to export: one file with an 'account' column, or one file per account
            when it contains {account} (e.g. exports/{account}.csv). Leave empty for none.
        export_format: File format (csv, json, jsonl or parquet). Leave empty to take it from
            the export's extension.
        export_filesystem: A saved filesystem block to write into (pick one, or give
            BLOCK-TYPE/NAME such as local-file-system/exports). Leave empty to write to the
            export path directly.
    """
    if not (credentials_blocks or partner_credentials or partner_from_env):
        raise ConfigurationError(
            "Nothing to collect: name credentials_blocks, a partner_credentials block, "
            "or set partner_from_env."
        )
    if partner_credentials and partner_from_env:
        raise ConfigurationError("Give partner_credentials or partner_from_env, not both.")
    if export:
        format_for(export, export_format)
    filesystem = await resolve_filesystem(export_filesystem)
    partner = (
        await _partner(partner_credentials) if partner_credentials or partner_from_env else None
    )
    accounts, unusable = await _accounts(credentials_blocks or [])

    fetched = await fetch_segments_fanout.aio(
        accounts,
        partner=partner,
        concurrency=concurrency,
        concurrency_limit=concurrency_limit,
        rate_limit=rate_limit,
    )
    report = fetched.model_copy(update={"outcomes": [*unusable, *fetched.outcomes]})
    await publish_fanout_artifacts.aio(report)
    export_failures: list[tuple[str, str]] = []
    if export:
        export_failures = await _export(report, export, export_format, filesystem, concurrency)
    error = report.failure_error(also=export_failures)
    if error is not None:
        raise error
    return report.summary()


async def _partner(block: BotPenguinCredentials | str | None) -> FanoutAccount:
    """The partner's account from its block, else from ``BOTPENGUIN_*`` settings."""
    account = await resolve_account(block, None)
    if account.credentials is not None:
        token = account.credentials.api_token
    else:
        from ..core.settings import load_settings

        settings_token = load_settings().api_token
        if settings_token is None or not settings_token.get_secret_value().strip():
            raise MissingTokenError(
                "partner_from_env is set but BOTPENGUIN_API_TOKEN is empty; set it to the "
                "partner's API token."
            )
        token = settings_token
    return FanoutAccount(label=account.label, token=token, base_url=account.source)


async def _accounts(names: list[str]) -> tuple[list[FanoutAccount], list[AccountOutcome]]:
    """Load every named block at once; a block that cannot be loaded is a failed account."""
    loaded = await asyncio.gather(
        *(resolve_account(name, None) for name in names), return_exceptions=True
    )
    accounts: list[FanoutAccount] = []
    unusable: list[AccountOutcome] = []
    for name, result in zip(names, loaded, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result  # cancellation and interrupts are not an account's failure
            unusable.append(AccountOutcome(label=name, error=_one_line(result)))
        elif result.credentials is not None:
            accounts.append(
                FanoutAccount(
                    label=name, token=result.credentials.api_token, base_url=result.source
                )
            )
    return accounts, unusable


async def _export(
    report: FanoutReport,
    destination: str,
    format: ExportFormat | None,
    filesystem: WritableFileSystem | None,
    concurrency: int,
) -> list[tuple[str, str]]:
    """One combined file, or one file per account; returns ``(label, error)`` of failed ones."""
    logger = get_run_logger()
    if ACCOUNT_PLACEHOLDER not in destination:
        try:
            await export_segments.aio(
                list(iter_segments_with_account(report)),
                destination,
                format=format,
                filesystem=filesystem,
                account=COMBINED_EXPORT_LABEL,
            )
        except Exception as exc:
            return [("combined export", _one_line(exc))]
        return []

    slots = asyncio.Semaphore(concurrency)
    used: set[str] = set()

    async def export_one(outcome: AccountOutcome, slug: str) -> tuple[str, str] | None:
        async with slots:
            try:
                await export_segments.aio(
                    outcome.segments,
                    destination.replace(ACCOUNT_PLACEHOLDER, slug),
                    format=format,
                    filesystem=filesystem,
                    account=outcome.label,
                )
            except Exception as exc:
                logger.warning("Export of %s failed: %s", outcome.label, _one_line(exc))
                return (f"{outcome.label} (export)", _one_line(exc))
        return None

    jobs = []
    for number, outcome in enumerate(report.succeeded, start=1):
        slug = account_slug(outcome.label)
        if slug in used:  # two labels, one file name: never let one export overwrite another
            slug = f"{slug}-{account_slug(outcome.customer_id or str(number))}"
        used.add(slug)
        jobs.append(export_one(outcome, slug))
    results = await asyncio.gather(*jobs)
    return [failure for failure in results if failure is not None]


def _one_line(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, BotPenguinError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())
