"""``fanout_shard``: one shard of a sharded fan-out, as its own flow run on any worker.

A parent (``segments_fanout`` or ``members_fanout`` with ``shards`` > 1) starts one run of
this flow per shard, in-process or through the shard deployment on a work pool. Its
parameters are references only (block names, customer ids) and options: a run's parameters
are shown in the UI and stored on the server, so a token must never be one of them.

The shard writes each account's file atomically, then its ``ShardReport`` (counts and
locations) beside the export, and returns the same report. A re-run (``attempt`` > 1)
first removes the hidden temp files its killed run may have left beside those files and
the report. An account's failure is a line of the report; the run itself fails only when
something outside every account breaks (a missing partner block, an unwritable report), so
its parent runs it again.
"""

from __future__ import annotations

from typing import Annotated

from prefect import get_run_logger
from prefect.filesystems import WritableFileSystem
from pydantic import Field

from ..core.errors import ConfigurationError
from ..core.fanout import DEFAULT_CONCURRENCY, FanoutAccount
from ..core.formats import ExportFormat, format_for
from ..core.partner import Customer
from ..core.shards import (
    AccountRef,
    ShardAccount,
    ShardReport,
    ShardWork,
    attempt_report_location,
    check_destination,
)
from ..fanout import CallLimits, engine_bounds, fetch_segments_fanout, read_limit
from ..shard_files import export_account_segments, remove_temp_leftovers, write_json
from ..shard_members import collect_members
from .common import Concurrency, CredentialsParam, FilesystemParam, resolve_filesystem
from .fanout_accounts import load_accounts, partner_account
from .pack_flow import pack_flow

SHARD_FLOW_NAME = "botpenguin-fanout-shard"


@pack_flow(SHARD_FLOW_NAME)
async def fanout_shard(
    what: ShardWork,
    shard: Annotated[int, Field(ge=0)],
    shards: Annotated[int, Field(ge=1)],
    run_key: str,
    export: str,
    report_path: str,
    credentials_blocks: list[str] | None = None,
    partner_credentials: CredentialsParam = None,
    partner_from_env: bool = False,
    customer_ids: list[str] | None = None,
    labels: dict[str, str] | None = None,
    file_keys: dict[str, str] | None = None,
    export_format: ExportFormat | None = None,
    export_filesystem: FilesystemParam = None,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
    concurrency_limit: str | None = None,
    rate_limit: str | None = None,
    lease_seconds: float | None = None,
    segments: list[str] | None = None,
    fields: list[str] | None = None,
    attempt: Annotated[int, Field(ge=1)] = 1,
) -> ShardReport:
    """Collect one shard's accounts, write each one's file and the shard's report.

    Args:
        what: segments (each account's segments) or members (each account's contacts).
        shard: This shard's index, from 0.
        shards: How many shards the parent made.
        run_key: The parent's run, written into the report so a stale report is refused.
        export: Each account's file; must contain {account}, may contain {shard}.
        report_path: Where to write this shard's report (JSON), on the export's filesystem;
            a re-run writes beside it (shard-0.attempt-2.json).
        credentials_blocks: Names of saved BotPenguin Credentials blocks in this shard.
        partner_credentials: The partner's saved BotPenguin Credentials block (its name),
            for the customers in customer_ids.
        partner_from_env: Use BOTPENGUIN_API_TOKEN and BOTPENGUIN_BASE_URL of the worker as
            the partner's credentials instead of a block.
        customer_ids: The partner's customers in this shard.
        labels: Account names by reference (block name, or customer:ID); default: the
            block name, else the customer id.
        file_keys: What replaces {account} per reference; default: the label as a slug.
        export_format: File format (csv, json, jsonl or parquet); default: the extension's.
        export_filesystem: A saved filesystem block as BLOCK-TYPE/NAME; empty: the path.
        concurrency: Most API calls in flight at once in this shard.
        concurrency_limit: Prefect global concurrency limit whose slots this shard holds
            (as many as concurrency) while it runs.
        rate_limit: Prefect global concurrency limit with slot decay pacing every call.
        lease_seconds: How soon the server frees this shard's slots if its process dies.
        segments: Members only: ids of the segments to export; empty: every segment.
        fields: Members only: contact fields to keep besides segment_id and id.
        attempt: Which run of this shard this is (the parent counts from 1); from 2 on,
            the temp files a killed run left beside this shard's files are removed.
    """
    logger = get_run_logger()
    check_destination(export)
    format_for(export, export_format)
    refs = _refs(credentials_blocks or [], customer_ids or [], labels or {}, file_keys or {})
    if customer_ids and not (partner_credentials or partner_from_env):
        raise ConfigurationError(
            "customer_ids need the partner: give partner_credentials or partner_from_env."
        )
    filesystem = await resolve_filesystem(export_filesystem)
    partner = await partner_account(partner_credentials) if customer_ids else None
    if rate_limit:
        await read_limit(rate_limit, rate=True)
    logger.info(
        "Shard %d (of %d, from 0; attempt %d): %d account(s), %s", shard, shards, attempt,
        len(refs), what,
    )  # fmt: skip
    rerun = attempt > 1  # its killed run may have left hidden temp files: sweep them
    blocks = {ref.block: ref.label for ref in refs if ref.block}
    accounts, unusable = await load_accounts(list(blocks))
    accounts = [a.model_copy(update={"label": blocks[a.label]}) for a in accounts]
    lines = [ShardAccount(label=blocks[o.label], error=o.error) for o in unusable]
    by_label = {ref.label: ref for ref in refs}
    customers = [Customer(_id=ref.customer_id, name=ref.label) for ref in refs if ref.customer_id]
    limits = CallLimits(concurrency, concurrency_limit, rate_limit)
    if what == "segments":
        fetched = await fetch_segments_fanout.aio(
            accounts,
            partner=partner,
            customers=customers,
            lease_seconds=lease_seconds,
            progress_artifact=_own_run(),
            **limits.options(),
        )
        lines += await export_account_segments(
            fetched, by_label, export, shard, export_format, filesystem, concurrency, rerun
        )
    else:
        lines += await _members(
            refs, accounts, partner, export, shard, export_format, filesystem,
            segments, fields, limits, lease_seconds, rerun,
        )  # fmt: skip
    order = {ref.label: number for number, ref in enumerate(refs)}
    lines.sort(key=lambda line: order.get(line.label, len(order)))
    report = ShardReport(run_key=run_key, shard=shard, attempt=attempt, what=what, accounts=lines)
    if rerun:  # the temp files of every earlier attempt's report, and of this one's
        for earlier in range(1, attempt + 1):
            await remove_temp_leftovers(attempt_report_location(report_path, earlier), filesystem)
    where = await write_json(
        report, attempt_report_location(report_path, attempt), filesystem, "the shard report"
    )
    failed = sum(1 for line in lines if not line.ok)
    logger.info("Shard %d wrote %d account(s), %d failed; report %s", shard,
                len(lines) - failed, failed, where)  # fmt: skip
    return report


async def _members(
    refs: list[AccountRef],
    accounts: list[FanoutAccount],
    partner: FanoutAccount | None,
    export: str,
    shard: int,
    export_format: ExportFormat | None,
    filesystem: WritableFileSystem | None,
    segments: list[str] | None,
    fields: list[str] | None,
    limits: CallLimits,
    lease_seconds: float | None,
    sweep_leftovers: bool,
) -> list[ShardAccount]:
    """Each account's members into its file, within the shard's slots of the global limit."""
    logger = get_run_logger()
    loaded = {account.label: account for account in accounts}
    work = [
        (ref, loaded.get(ref.label))
        for ref in refs
        if ref.customer_id is not None or ref.label in loaded
    ]
    bounded = engine_bounds(**limits.options(), lease_seconds=lease_seconds, logger=logger)
    async with bounded as bounds:
        return await collect_members(
            work,
            partner=partner,
            export=export,
            shard=shard,
            segment_ids=segments,
            fields=fields,
            format=export_format,
            filesystem=filesystem,
            sweep_leftovers=sweep_leftovers,
            **bounds,
        )


def _own_run() -> bool:
    """Whether this shard is its own flow run (on a pool), not a parent's in-process share."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return (
        context is not None and context.flow is not None and (context.flow.name == SHARD_FLOW_NAME)
    )


def _refs(
    blocks: list[str],
    customer_ids: list[str],
    labels: dict[str, str],
    file_keys: dict[str, str],
) -> list[AccountRef]:
    """The shard's accounts as references, named as the parent named them."""
    refs = [AccountRef(label=name, block=name) for name in blocks]
    refs += [AccountRef(label=cid, customer_id=cid) for cid in customer_ids]
    return [
        AccountRef(
            label=labels.get(ref.key, ref.label),
            block=ref.block,
            customer_id=ref.customer_id,
            file_key=file_keys.get(ref.key, ""),
        )
        for ref in refs
    ]
