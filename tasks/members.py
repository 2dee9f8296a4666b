"""Segment members as Prefect tasks: count them, or stream them into an export file.

Contacts are personal data, so they go only into the export file a user asks for. Task
results, logs, artifacts and errors carry segment ids and counts, never a contact's fields;
``fetch_segment_members`` therefore returns counts (and ids on request), not contacts.

The file itself is written by ``member_export`` (memory bounded by one page, atomic
replacement, the same destinations as segment exports); this module wraps it in tasks.

Each file of a complete export is recorded as a Prefect asset materialization (upstream: the
account's members, ``botpenguin://<api-host>/<account>/members``; metadata: counts and
format, never a contact). A failed export records none, also when it wrote some of its
per-segment files before failing (see ``assets``).
"""

from __future__ import annotations

import os
from typing import Any

from prefect import get_run_logger
from prefect.assets import Asset
from prefect.filesystems import WritableFileSystem
from pydantic import BaseModel, ConfigDict, Field

from ._dispatch import dual_task
from .assets import (
    account_asset,
    acreate_export_link,
    arecord_materialization,
    export_asset,
    is_on_worker,
    worker_host,
)
from .core.accounts import account_slug
from .core.client import BotPenguinClient
from .core.formats import ExportFormat
from .core.members import iter_members
from .credentials import BotPenguinCredentials
from .member_export import (
    SEGMENT_PLACEHOLDER,
    MemberFile,
    MembersExportResult,
    write_members_export,
)
from .segments import TASK_RETRIES, TASK_RETRY_DELAYS, retry_only_transient_failures


class SegmentMembers(BaseModel):
    """How many members one segment has (and, on request, their contact ids)."""

    model_config = ConfigDict(frozen=True)

    segment_id: str = Field(description="The segment's id.")
    count: int = Field(ge=0, description="How many members the listing returned.")
    pages: int = Field(ge=0, description="How many non-empty pages that took.")
    contact_ids: list[str] | None = Field(
        default=None, description="The members' contact ids, when asked for (no other fields)."
    )


def members_artifact_key(account: str) -> str:
    """The stable key of an account's member-export link artifact."""
    return f"botpenguin-members-export-{account_slug(account)}"


def _client(credentials: BotPenguinCredentials | None, logger: Any) -> BotPenguinClient:
    if credentials is not None:
        return credentials.get_client(logger=logger)
    return BotPenguinClient.from_settings(logger=logger)


async def _fetch_segment_members(
    segment_ids: list[str] | None = None,
    credentials: BotPenguinCredentials | None = None,
    include_ids: bool = False,
) -> list[SegmentMembers]:
    """Count every member of the chosen segments (default: every segment of the account).

    Returns counts, not contacts: a result is stored and shown by Prefect, and contacts are
    personal data that belong only in an export (``export_segment_members``). With
    ``include_ids`` each segment also lists its contact ids (ids only; memory grows with the
    audience then, about 100 bytes per member).

    Args:
        segment_ids: Segment ids to list; ``None`` lists every segment of the account.
        credentials: A saved ``BotPenguinCredentials`` block; default ``BOTPENGUIN_*``.
        include_ids: Also return each segment's contact ids.

    Returns:
        One ``SegmentMembers`` per segment, in order.

    Example:
        Count the members of every segment:
        ```python
        from prefect import flow
        from prefect_botpenguin import fetch_segment_members

        @flow
        def audience_sizes() -> dict[str, int]:
            counts = fetch_segment_members()
            return {c.segment_id: c.count for c in counts}

        audience_sizes()
        ```
    """
    logger = get_run_logger()
    async with _client(credentials, logger) as client:
        if segment_ids is None:
            segment_ids = [segment.id for segment in await client.get_segments()]
        found = {s: SegmentMembers(segment_id=s, count=0, pages=0) for s in segment_ids}
        ids: dict[str, list[str]] = {s: [] for s in found}
        async for page in iter_members(client, list(found)):
            seen = found[page.segment_id]
            found[page.segment_id] = seen.model_copy(
                update={"count": seen.count + len(page.contacts), "pages": seen.pages + 1}
            )
            if include_ids:
                ids[page.segment_id].extend(contact.id for contact in page.contacts)
    if include_ids:
        found = {s: m.model_copy(update={"contact_ids": ids[s]}) for s, m in found.items()}
    logger.info(
        "Counted %d member(s) in %d segment(s)", sum(m.count for m in found.values()), len(found)
    )
    return list(found.values())


async def _export_segment_members(
    destination: str | os.PathLike[str],
    segment_ids: list[str] | None = None,
    credentials: BotPenguinCredentials | None = None,
    format: ExportFormat | None = None,
    filesystem: WritableFileSystem | None = None,
    fields: list[str] | None = None,
    account: str = "default",
) -> MembersExportResult:
    """Write every member of the chosen segments to a file, page by page, atomically.

    One row per contact per segment, with a ``segment_id`` column; a destination containing
    ``{segment_id}`` gets one file per segment instead (each file atomic on its own: a
    failure on a later segment leaves the files already written complete and new). JSON and
    JSON Lines keep every field with native types; CSV and Parquet take their columns from
    the first page and keep any other field in an ``extra`` JSON column (see
    ``core.member_files``). A failure -- also a page that fails after the client's retries --
    leaves the previous export as it was; a transient API failure retries the whole export
    (twice, like ``fetch_segments``).

    Args:
        destination: A local path, an fsspec URL or, with ``filesystem``, a path inside that
            block; may contain ``{segment_id}``.
        segment_ids: Segments to export; ``None`` exports every segment of the account.
        credentials: A saved ``BotPenguinCredentials`` block; default ``BOTPENGUIN_*``.
        format: ``"csv"``, ``"json"``, ``"jsonl"`` or ``"parquet"``; default: the extension.
        filesystem: A ``WritableFileSystem`` block to write into.
        fields: Contact fields to keep (``segment_id`` and ``id`` are always kept); ``None``
            keeps every field.
        account: The account's label, for the artifact key ``botpenguin-members-export-<account>``.

    Returns:
        The files written, the format and the counts per segment (no contact data).

    Example:
        Export the members of every segment to Parquet:
        ```python
        from prefect import flow
        from prefect_botpenguin import export_segment_members

        @flow
        def export_audiences() -> int:
            result = export_segment_members("exports/members.parquet")
            return result.count

        export_audiences()
        ```
    """
    logger = get_run_logger()
    async with _client(credentials, logger) as client:
        result = await write_members_export(
            client,
            destination,
            segment_ids,
            format=format,
            filesystem=filesystem,
            fields=fields,
        )
        source = client.base_url
    await arecord_materialization(
        [
            (_file_asset(file, result, account), _file_metadata(file, result, account))
            for file in result.files
        ],
        upstream=account_asset(account, source, "members"),
    )
    link = result.files[0].url if result.files else result.destination
    await acreate_export_link(
        result.destination,
        link,
        members_artifact_key(account),
        f"Segment members of BotPenguin account {account!r}: {result.count} row(s) from "
        f"{len(result.segments)} segment(s) in {len(result.files)} file(s) as "
        f"{result.format.upper()} ({result.size_bytes} bytes).",
    )
    logger.info(
        "Exported %d member row(s) of %d segment(s) as %s to %s (%d file(s), %d bytes)",
        result.count,
        len(result.segments),
        result.format.upper(),
        result.destination,
        len(result.files),
        result.size_bytes,
    )
    return result


def _file_asset(file: MemberFile, result: MembersExportResult, account: str) -> Asset:
    """The asset one member file materializes (see ``prefect_botpenguin.assets``)."""
    return export_asset(
        file.asset_key,
        name=f"BotPenguin members export: {account} ({result.format.upper()})",
        description=(
            f"Segment members (contacts) of BotPenguin account {account!r}, exported by "
            f"prefect-botpenguin as {result.format.upper()} to {file.destination}. Personal data."
        ),
    )


def _file_metadata(file: MemberFile, result: MembersExportResult, account: str) -> dict[str, Any]:
    """What a materialization records: counts and format, never a contact."""
    metadata: dict[str, Any] = {
        "account": account,
        "format": result.format,
        "rows": file.count,
        "segments": len(result.segments) if len(result.files) == 1 else 1,
        "size_bytes": file.size_bytes,
        "destination": file.destination,
    }
    if is_on_worker(file.url):
        metadata["worker_host"] = worker_host()
    return metadata


_RETRIED_LIKE_FETCH: dict[str, Any] = {
    "retries": TASK_RETRIES,
    "retry_delay_seconds": TASK_RETRY_DELAYS,
    "retry_condition_fn": retry_only_transient_failures,
}
afetch_segment_members, fetch_segment_members = dual_task(
    _fetch_segment_members,
    name="fetch-botpenguin-segment-members",
    description="Count the members of BotPenguin segments (POST /inbox/users), page by page.",
    **_RETRIED_LIKE_FETCH,
)
aexport_segment_members, export_segment_members = dual_task(
    _export_segment_members, name="export-botpenguin-segment-members", **_RETRIED_LIKE_FETCH
)


__all__ = [
    "SEGMENT_PLACEHOLDER",
    "MemberFile",
    "MembersExportResult",
    "SegmentMembers",
    "aexport_segment_members",
    "afetch_segment_members",
    "export_segment_members",
    "fetch_segment_members",
    "members_artifact_key",
    "write_members_export",
]
