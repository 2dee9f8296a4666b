"""A sharded fan-out's two artifacts, across all its shards: progress and summary.

The progress artifact moves as shards end (not per account: a shard on another worker
tells its parent nothing until it ends); the summary names every account once, with its
counts and files or its error, and which shard run did it. Labels, counts and locations
only: no token, no contact.
"""

from __future__ import annotations

import asyncio

from prefect import get_run_logger
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    aupdate_progress_artifact,
)

from .core.markdown import cell, table_section
from .core.shards import Manifest, ManifestEntry

SUMMARY_TABLE_LIMIT = 2_000
"""Accounts listed in the summary's table; the manifest file lists every one."""


class ShardProgress:
    """One progress artifact for a whole sharded run, updated as each shard ends."""

    def __init__(self, key: str, shards: int, accounts: int) -> None:
        self.key = key
        self.shards = shards
        self.accounts = accounts
        self.ended = 0
        self.failed = 0
        self.artifact_id: object | None = None
        self._updating = asyncio.Lock()  # shards end together: updates must land in order

    async def start(self) -> None:
        """Create the artifact at 0%; a failure leaves the run without one, never fails it."""
        try:
            self.artifact_id = await acreate_progress_artifact(
                0.0, key=self.key, description=self._describe()
            )
        except Exception as exc:  # progress is a courtesy
            get_run_logger().debug("Could not create the progress artifact: %s", exc)

    async def shard_ended(self, ok: bool) -> None:
        """Count one more ended shard and show it; a failed update never fails the run."""
        async with self._updating:
            self.ended += 1
            self.failed += 0 if ok else 1
            if self.artifact_id is None:
                return
            try:
                await aupdate_progress_artifact(
                    self.artifact_id,  # type: ignore[arg-type]
                    100.0 * self.ended / max(1, self.shards),
                    description=self._describe(),
                )
            except Exception as exc:  # progress is a courtesy
                get_run_logger().debug("Could not update the progress artifact: %s", exc)

    def _describe(self) -> str:
        text = f"{self.ended} of {self.shards} shard(s) ended ({self.accounts} account(s))"
        return text + (f", {self.failed} did not complete." if self.failed else ".")


def manifest_markdown(manifest: Manifest, where: str) -> str:
    """Counts, the failed accounts, then every account's shard, counts and files."""
    failed = manifest.failed
    total = len(manifest.accounts)
    segments = sum(entry.segment_count for entry in manifest.accounts)
    members = sum(entry.member_count for entry in manifest.accounts)
    counted = f"**{segments}** segment(s)"
    if manifest.what == "members":
        counted += f", **{members}** member row(s)"
    lines = [
        f"# BotPenguin {manifest.what} fan-out: {total - len(failed)} of {total} account(s)",
        "",
        f"{counted} in {manifest.shards} shard(s), {manifest.seconds:.1f}s. Manifest: `{where}`.",
        "",
    ]
    if failed:
        errors = [(cell(e.label), e.shard, cell(e.error or "")) for e in failed]
        title = f"Failed ({len(failed)})"
        lines += [*table_section(title, ("Account", "Shard", "Error"), "lrl", errors), ""]
    lines += table_section(
        "Accounts",
        ("Account", "Shard", "Attempt", "Segments", "Members", "Files"),
        "lrrrrl",
        [_account_row(entry) for entry in manifest.accounts[:SUMMARY_TABLE_LIMIT]],
    )
    if total > SUMMARY_TABLE_LIMIT:
        lines += ["", f"... and {total - SUMMARY_TABLE_LIMIT} more: see the manifest."]
    return "\n".join(lines)


def _account_row(entry: ManifestEntry) -> tuple[object, ...]:
    count = entry.segment_count if entry.ok else "failed"
    files = ", ".join(f"`{cell(f)}`" for f in entry.files)
    return (cell(entry.label), entry.shard, entry.attempt, count, entry.member_count, files)


async def publish_manifest_summary(manifest: Manifest, key: str, where: str) -> None:
    """The summary artifact of a sharded run (one per run, under ``key``)."""
    await acreate_markdown_artifact(
        manifest_markdown(manifest, where),
        key=key,
        description=f"Which BotPenguin accounts a sharded {manifest.what} fan-out wrote.",
    )
