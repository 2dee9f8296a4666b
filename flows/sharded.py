"""The parent of a sharded fan-out: split the accounts, run the shards, join their reports.

With ``shard_deployment`` the shards are flow runs of that deployment on its work pool
(``shard_pool.run_shards_on_pool``: a crashed or failed shard runs again, up to
``shard_attempts``, and the parent waits at most ``shard_timeout``); without it they run
in this process, concurrently, with the same files and manifest. In-process shards call the
shard flow's function inside the parent's run rather than as subflows: Prefect 3 runs
async subflows one after another even under ``asyncio.gather`` (PrefectHQ/prefect#15415),
which made three shards three times slower than one flow. Either way the parent writes the
manifest (every account exactly once), one summary artifact and one progress artifact, and
leaves failing the run to its flow.

One bound for the whole pool: ``concurrency`` is shared out, each of N shards keeping at
most ``max(1, concurrency // N)`` calls in flight; with ``concurrency_limit`` (a Prefect
global concurrency limit of size L), each shard also holds ``max(1, min(that, L // N))`` of
its slots while it runs and keeps its requests within them, so the server holds the bound
across workers (a shard waits for its slots while others hold them). The slots are a lease
that Prefect renews from the holding process; the shards on a pool take a short one
(``SHARD_LEASE_SECONDS``) so a killed shard's slots come back.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prefect.filesystems import WritableFileSystem

from ..core.errors import ConfigurationError, FanoutFailedError
from ..core.fanout import AccountOutcome, AccountSummary, FanoutReport, FanoutSummary
from ..core.formats import ExportFormat
from ..core.shards import (
    MAX_SHARDS,
    AccountRef,
    Manifest,
    ShardReport,
    ShardWork,
    attempt_report_location,
    build_manifest,
    report_location,
    split_into_shards,
)
from ..credentials import BotPenguinCredentials
from ..fanout import CallLimits, read_limit
from ..shard_artifacts import ShardProgress, publish_manifest_summary
from ..shard_files import read_text, write_json
from .common import resolve_filesystem
from .fanout_accounts import block_reference, one_line

SHARD_LEASE_SECONDS = 60.0
"""Lease on a pool shard's slots: Prefect's minimum; the server's repossessor (every 15 s)
frees the slots of a shard killed mid-run about this long after its last renewal."""
WATCHDOG_SILENCE = timedelta(seconds=45)
"""A shard run silent this long (1.5 heartbeats of 30 s, the least ``ensure_shard_watchdog``
accepts) is marked Crashed. A live run marked by mistake costs a duplicate run, not data or
the bound: it keeps its slots until it ends, and both write the same files atomically (the
re-run's sweep of temp files may fail a write of the live one; the file stays complete)."""
DEFAULT_SHARD_ATTEMPTS = 3


@dataclass(frozen=True)
class ShardOptions:
    """How a fan-out runs as shards: the fan-out flows' ``shards``, ``shard_deployment``,
    ``shard_attempts`` and ``shard_timeout``."""

    shards: int
    deployment: str | None
    attempts: int = DEFAULT_SHARD_ATTEMPTS
    timeout: float | None = None

    def check(self) -> None:
        """Refuse impossible shard options in one line, before any request."""
        if not 1 <= self.shards <= MAX_SHARDS:
            raise ConfigurationError(
                f"shards must be between 1 and {MAX_SHARDS}, got {self.shards}."
            )
        if self.attempts < 1:
            raise ConfigurationError(f"shard_attempts must be at least 1, got {self.attempts}.")
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigurationError(f"shard_timeout must be positive seconds, got {self.timeout}.")


@dataclass(frozen=True)
class ShardPlan:
    """What every shard of one run shares: the work, the export, and the limits."""

    what: ShardWork
    export: str
    manifest: str
    export_format: ExportFormat | None
    export_filesystem: WritableFileSystem | str | None
    partner_credentials: BotPenguinCredentials | str | None
    partner_from_env: bool
    limits: CallLimits
    segments: list[str] | None = None
    fields: list[str] | None = None


async def check_shard_deployment(name: str) -> None:
    """The shard deployment must exist before any account is listed or shard started."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    if name.count("/") != 1:
        raise ConfigurationError(
            f"shard_deployment must be FLOW-NAME/DEPLOYMENT-NAME, e.g. "
            f"botpenguin-fanout-shard/fanout-shard; got {name!r}."
        )
    async with get_client() as client:
        try:
            await client.read_deployment_by_name(name)
        except ObjectNotFound:
            raise ConfigurationError(
                f"No deployment {name!r} on this Prefect server; deploy the shard flow first "
                "(`prefect deploy --name fanout-shard` with the pack's prefect.yaml)."
            ) from None


async def run_sharded(
    refs: list[AccountRef],
    plan: ShardPlan,
    options: ShardOptions,
    *,
    filesystem: WritableFileSystem | None,
    progress_key: str,
    summary_key: str,
) -> Manifest:
    """Run ``refs`` in ``options.shards`` shards and return the manifest (also written and
    summed up). ``filesystem``: ``plan.export_filesystem`` loaded, where the manifest and
    the shards' reports live."""
    from prefect.runtime import flow_run

    started = time.monotonic()
    run_key = str(flow_run.id or uuid.uuid4())
    groups = split_into_shards(refs, options.shards)
    per_shard = max(1, plan.limits.concurrency // len(groups))
    if plan.limits.concurrency_limit:
        size = await read_limit(plan.limits.concurrency_limit, rate=False)
        per_shard = max(1, min(per_shard, size // len(groups)))
    on_pool = options.deployment is not None
    shared = _shared_parameters(plan, per_shard, on_pool)
    jobs = [
        (index, {**shared, **_account_parameters(group), "shard": index,
                 "shards": len(groups), "run_key": run_key,
                 "report_path": report_location(plan.export, run_key, index)})
        for index, group in enumerate(groups)
    ]  # fmt: skip
    progress = ShardProgress(progress_key, len(groups), len(refs))
    await progress.start()
    if (deployment := options.deployment) is not None:
        reports, problems = await _on_pool(deployment, options, jobs, filesystem, progress)
    else:
        reports, problems = await _in_process(jobs, progress)
    manifest = build_manifest(run_key, plan.what, groups, reports, problems).model_copy(
        update={"seconds": time.monotonic() - started}
    )
    where = await write_json(manifest, plan.manifest, filesystem, "the manifest")
    await publish_manifest_summary(manifest, summary_key, where)
    return manifest


def _shared_parameters(plan: ShardPlan, concurrency: int, on_pool: bool) -> dict[str, Any]:
    """Parameters every shard gets; on a pool, blocks go by name (a run's parameters are JSON)."""
    partner: Any = plan.partner_credentials
    filesystem: Any = plan.export_filesystem
    if on_pool:
        # As {$ref: slug}: the deployment's parameter schema takes a block there, not a
        # bare name; the worker's run loads the block by it, the token never in parameters.
        partner = _slug_ref(block_reference(partner, "partner's credentials block"))
        filesystem = _slug_ref(block_reference(filesystem, "export filesystem block"))
    return {
        "what": plan.what,
        "export": plan.export,
        "export_format": plan.export_format,
        "export_filesystem": filesystem,
        "partner_credentials": partner,
        "partner_from_env": plan.partner_from_env,
        "concurrency": concurrency,
        "concurrency_limit": plan.limits.concurrency_limit,
        "rate_limit": plan.limits.rate_limit,
        "lease_seconds": SHARD_LEASE_SECONDS if on_pool else None,
        "segments": plan.segments,
        "fields": plan.fields,
    }


def _slug_ref(name: str | None) -> dict[str, Any] | None:
    """A saved block's name as a reference Prefect resolves when the shard run starts."""
    if name is None:
        return None
    slug = name if "/" in name else f"{BotPenguinCredentials.get_block_type_slug()}/{name}"
    return {"$ref": {"block_document_slug": slug}}


def _account_parameters(group: list[AccountRef]) -> dict[str, Any]:
    """One shard's accounts as references, with the labels and file names the parent chose."""
    return {
        "credentials_blocks": [ref.block for ref in group if ref.block is not None],
        "customer_ids": [ref.customer_id for ref in group if ref.customer_id is not None],
        "labels": {ref.key: ref.label for ref in group},
        "file_keys": {ref.key: ref.file_key for ref in group},
    }


async def _in_process(
    jobs: list[tuple[int, dict[str, Any]]], progress: ShardProgress
) -> tuple[dict[int, ShardReport], dict[int, str]]:
    """Every shard in this run, all at once (the flow's function: see the module's note)."""
    from .shard import fanout_shard

    reports: dict[int, ShardReport] = {}
    problems: dict[int, str] = {}

    async def one(index: int, parameters: dict[str, Any]) -> None:
        try:
            reports[index] = await fanout_shard.fn(**parameters)
        except Exception as exc:
            problems[index] = f"shard {index} failed: {one_line(exc)}"
        await progress.shard_ended(index in reports)

    await asyncio.gather(*(one(index, parameters) for index, parameters in jobs))
    return reports, problems


async def _on_pool(
    deployment: str,
    options: ShardOptions,
    jobs: list[tuple[int, dict[str, Any]]],
    filesystem: WritableFileSystem | None,
    progress: ShardProgress,
) -> tuple[dict[int, ShardReport], dict[int, str]]:
    """Every shard as a run of ``deployment``, within ``options``' attempts and timeout;
    then each completed shard's report, read back from ``filesystem``."""
    from ..shard_pool import (
        ShardJob,
        ShardRun,
        ensure_shard_watchdog,
        run_shards_on_pool,
    )

    await ensure_shard_watchdog(WATCHDOG_SILENCE)

    async def on_done(run: ShardRun) -> None:
        await progress.shard_ended(run.state == "COMPLETED")

    runs = await run_shards_on_pool(
        deployment,
        [ShardJob(index=index, parameters=parameters) for index, parameters in jobs],
        attempts=options.attempts,
        wait_timeout=options.timeout,
        on_done=on_done,
    )
    paths = {index: parameters["report_path"] for index, parameters in jobs}
    run_key = jobs[0][1]["run_key"] if jobs else ""
    reports: dict[int, ShardReport] = {}
    problems: dict[int, str] = {}
    for run in runs:
        if run.state != "COMPLETED":  # its message already says how it ended, and why
            ended = run.message or f"{run.state.lower()} after {len(run.flow_run_ids)} run(s)"
            problems[run.index] = f"shard {run.index} {ended}"
            continue
        attempt = len(run.flow_run_ids)
        try:
            report = ShardReport.model_validate_json(
                await read_text(attempt_report_location(paths[run.index], attempt), filesystem)
            )
        except Exception as exc:
            problems[run.index] = f"shard {run.index}: its report is unreadable: {one_line(exc)}"
            continue
        if report.run_key != run_key or (report.shard, report.attempt) != (run.index, attempt):
            problems[run.index] = f"shard {run.index}: its report is from another run"
            continue
        reports[run.index] = report
    return reports, problems


def manifest_summary(manifest: Manifest, concurrency: int) -> FanoutSummary:
    """A sharded run's result in the shape of a one-process fan-out's: counts per account."""
    return FanoutSummary(
        accounts=[
            AccountSummary(
                label=e.label,
                segment_count=e.segment_count,
                error=e.error,
                customer_id=e.customer_id,
                seconds=e.seconds,
            )
            for e in manifest.accounts
        ],
        seconds=manifest.seconds,
        concurrency=concurrency,
    )


def manifest_failure(manifest: Manifest, summary_key: str) -> FanoutFailedError | None:
    """The error naming every failed account (None when none failed), as a fan-out says it."""
    outcomes = [AccountOutcome(label=e.label, error=e.error) for e in manifest.accounts]
    return FanoutReport(outcomes=outcomes).failure_error(summary_key=summary_key)


async def sharded_fanout(
    plan: ShardPlan,
    credentials_blocks: list[str] | None,
    options: ShardOptions,
    *,
    progress_key: str,
    summary_key: str,
) -> Manifest:
    """Check every option, list the accounts by reference, ``run_sharded`` them, then fail
    naming every failed account (after the manifest and artifacts are written).

    Everything that can be checked without BotPenguin is checked first (shards, the
    deployment, blocks a pool shard must load by name, the Prefect limits), so a typo
    fails in one line before the partner's list is read or a shard is started.
    """
    from .fanout_accounts import account_refs, partner_account

    options.check()
    filesystem = await resolve_filesystem(plan.export_filesystem)
    if options.deployment is not None:
        await check_shard_deployment(options.deployment)
        block_reference(plan.partner_credentials, "partner's credentials block")
        block_reference(plan.export_filesystem, "export filesystem block")
    if plan.limits.concurrency_limit:
        await read_limit(plan.limits.concurrency_limit, rate=False)
    if plan.limits.rate_limit:
        await read_limit(plan.limits.rate_limit, rate=True)
    with_partner = plan.partner_credentials or plan.partner_from_env
    partner = await partner_account(plan.partner_credentials) if with_partner else None
    refs = await account_refs(credentials_blocks or [], partner)
    manifest = await run_sharded(
        refs,
        plan,
        options,
        filesystem=filesystem,
        progress_key=progress_key,
        summary_key=summary_key,
    )
    if (error := manifest_failure(manifest, summary_key)) is not None:
        raise error
    return manifest
