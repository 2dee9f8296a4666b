"""``segments_fanout``: collect the segments of many accounts at once, then save them all.

Accounts are saved credentials blocks, or every customer a partner lists, or both. One broken
account never stops the others: the run records and exports everything it could collect and
only then ends Failed, naming each failed account and why.
"""

from __future__ import annotations

import asyncio

from prefect import get_run_logger
from prefect.filesystems import WritableFileSystem

from ..core.accounts import account_slug
from ..core.fanout import (
    DEFAULT_CONCURRENCY,
    SUMMARY_KEY,
    AccountOutcome,
    FanoutReport,
    FanoutSummary,
    iter_segments_with_account,
)
from ..core.formats import ExportFormat, format_for
from ..core.shards import check_destination, manifest_location
from ..exports import export_segments
from ..fanout import PROGRESS_KEY, CallLimits, fetch_segments_fanout, publish_fanout_artifacts
from .common import (
    Concurrency,
    CredentialsParam,
    FilesystemParam,
    ShardAttempts,
    ShardCount,
    resolve_filesystem,
)
from .fanout_accounts import check_sources, load_accounts, one_line, partner_account
from .pack_flow import pack_flow
from .sharded import (
    DEFAULT_SHARD_ATTEMPTS,
    ShardOptions,
    ShardPlan,
    manifest_summary,
    sharded_fanout,
)

ACCOUNT_PLACEHOLDER = "{account}"
COMBINED_EXPORT_LABEL = "fanout"


@pack_flow("botpenguin-segments-fanout")
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
    shards: ShardCount = 1,
    shard_deployment: str | None = None,
    shard_attempts: ShardAttempts = DEFAULT_SHARD_ATTEMPTS,
    shard_timeout: float | None = None,
    manifest: str | None = None,
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
        partner_from_env: {PARTNER_FROM_ENV_HELP}
        concurrency: Most BotPenguin API calls in flight at once, across all accounts.
        concurrency_limit: Name of a Prefect global concurrency limit that bounds several
            flows together: this run holds min(concurrency, limit) of its slots while it runs
            (in shards, each shard holds its share) and keeps its requests within them. Leave
            empty for none.
        rate_limit: {RATE_LIMIT_HELP}
        export: Where to export: one file with an 'account' column, or one file per account
            when it contains {account} (e.g. exports/{account}.csv). Leave empty for none.
        export_format: File format (csv, json, jsonl or parquet). Leave empty to take it from
            the export's extension.
        export_filesystem: A saved filesystem block to write into (pick one, or give
            BLOCK-TYPE/NAME such as local-file-system/exports). Leave empty to write to the
            export path directly.
        shards: Split the accounts into this many shards, each its own flow run writing its
            accounts' files (export must contain {account}); 1 runs as one flow. See the
            Scale out page of the docs.
        shard_deployment: {SHARD_DEPLOYMENT_HELP}
        shard_attempts: {SHARD_ATTEMPTS_HELP}
        shard_timeout: {SHARD_TIMEOUT_HELP}
        manifest: Where the sharded run writes its manifest (every account once, with its
            files); default _manifest.json beside the export.
    """
    check_sources(credentials_blocks, partner_credentials, partner_from_env, verb="collect")
    if export:
        format_for(export, export_format)
    limits = CallLimits(concurrency, concurrency_limit, rate_limit)
    if shards > 1 or shard_deployment:
        plan = ShardPlan(
            what="segments",
            export=check_destination(export),
            manifest=manifest or manifest_location(export or ""),
            export_format=export_format,
            export_filesystem=export_filesystem,
            partner_credentials=partner_credentials,
            partner_from_env=partner_from_env,
            limits=limits,
        )
        sharding = ShardOptions(shards, shard_deployment, shard_attempts, shard_timeout)
        done = await sharded_fanout(
            plan, credentials_blocks, sharding, progress_key=PROGRESS_KEY, summary_key=SUMMARY_KEY
        )
        return manifest_summary(done, concurrency)
    filesystem = await resolve_filesystem(export_filesystem)
    partner = (
        await partner_account(partner_credentials)
        if partner_credentials or partner_from_env
        else None
    )
    accounts, unusable = await load_accounts(credentials_blocks or [])

    fetched = await fetch_segments_fanout.aio(accounts, partner=partner, **limits.options())
    report = fetched.model_copy(update={"outcomes": [*unusable, *fetched.outcomes]})
    await publish_fanout_artifacts.aio(report)
    export_failures: list[tuple[str, str]] = []
    if export:
        export_failures = await _export(report, export, export_format, filesystem, concurrency)
    error = report.failure_error(also=export_failures)
    if error is not None:
        raise error
    return report.summary()


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
            return [("combined export", one_line(exc))]
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
                logger.warning("Export of %s failed: %s", outcome.label, one_line(exc))
                return (f"{outcome.label} (export)", one_line(exc))
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
