"""``members_fanout``: every account's segment members, each account into its own file.

The accounts are saved credentials blocks, or every customer a partner lists, or both,
as for ``segments_fanout``. Members are the heavy part of a partner's data (every contact
of every segment), so this fan-out always runs as shards: one in this process by default,
or ``shards`` of them, in-process or as flow runs of the shard deployment on a work pool.
Each account's file is written atomically; the manifest lists every account exactly once.
"""

from __future__ import annotations

from ..core.fanout import DEFAULT_CONCURRENCY
from ..core.formats import ExportFormat, format_for
from ..core.shards import Manifest, check_destination, manifest_location
from ..fanout import CallLimits
from .common import (
    Concurrency,
    CredentialsParam,
    FilesystemParam,
    NonEmpty,
    ShardAttempts,
    ShardCount,
)
from .fanout_accounts import check_sources
from .pack_flow import pack_flow
from .sharded import DEFAULT_SHARD_ATTEMPTS, ShardOptions, ShardPlan, sharded_fanout

PROGRESS_KEY = "botpenguin-members-fanout-progress"
SUMMARY_KEY = "botpenguin-members-fanout-summary"


@pack_flow("botpenguin-members-fanout")
async def members_fanout(
    export: NonEmpty,
    credentials_blocks: list[str] | None = None,
    partner_credentials: CredentialsParam = None,
    partner_from_env: bool = False,
    segments: list[str] | None = None,
    fields: list[str] | None = None,
    export_format: ExportFormat | None = None,
    export_filesystem: FilesystemParam = None,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
    concurrency_limit: str | None = None,
    rate_limit: str | None = None,
    shards: ShardCount = 1,
    shard_deployment: str | None = None,
    shard_attempts: ShardAttempts = DEFAULT_SHARD_ATTEMPTS,
    shard_timeout: float | None = None,
    manifest: str | None = None,
) -> Manifest:
    """Export the members of many accounts' segments, one file per account, then fail if any
    account failed.

    Contacts are personal data: they go only into the files; the manifest, artifacts and
    the run's result carry labels, counts and file locations. Options are checked before
    the first request.

    Args:
        export: Each account's file, with {account} in it (e.g. members/{account}.parquet);
            {shard} is allowed too.
        credentials_blocks: Names of saved BotPenguin Credentials blocks, one per account.
        partner_credentials: A saved BotPenguin Credentials block (pick one, or give its
            name) holding a partner's token: every customer the partner lists is exported.
        partner_from_env: {PARTNER_FROM_ENV_HELP}
        segments: Ids of the segments to export in every account. Leave empty for all.
        fields: Contact fields to keep besides segment_id and id. Leave empty for all.
        export_format: File format (csv, json, jsonl or parquet). Leave empty to take it from
            the export's extension.
        export_filesystem: A saved filesystem block to write into (pick one, or give
            BLOCK-TYPE/NAME such as local-file-system/exports). Leave empty to write to the
            export path directly.
        concurrency: Most BotPenguin API calls in flight at once, across all shards.
        concurrency_limit: Name of a Prefect global concurrency limit that bounds API calls
            in flight across every shard and worker (each shard holds its share of slots).
        rate_limit: {RATE_LIMIT_HELP}
        shards: Split the accounts into this many shards, each its own flow run.
        shard_deployment: {SHARD_DEPLOYMENT_HELP}
        shard_attempts: {SHARD_ATTEMPTS_HELP}
        shard_timeout: {SHARD_TIMEOUT_HELP}
        manifest: Where to write the manifest (every account once, with its files and
            counts); default _manifest.json beside the export.
    """
    check_sources(credentials_blocks, partner_credentials, partner_from_env, verb="export")
    format_for(check_destination(export), export_format)
    plan = ShardPlan(
        what="members",
        export=export,
        manifest=manifest or manifest_location(export),
        export_format=export_format,
        export_filesystem=export_filesystem,
        partner_credentials=partner_credentials,
        partner_from_env=partner_from_env,
        limits=CallLimits(concurrency, concurrency_limit, rate_limit),
        segments=segments or None,
        fields=fields or None,
    )
    sharding = ShardOptions(shards, shard_deployment, shard_attempts, shard_timeout)
    return await sharded_fanout(
        plan, credentials_blocks, sharding, progress_key=PROGRESS_KEY, summary_key=SUMMARY_KEY
    )
