"""``segments_members_export``: write the members of an account's segments to a file."""

from __future__ import annotations

from ..core.formats import ExportFormat
from ..members import MembersExportResult, export_segment_members
from .common import CredentialsParam, FilesystemParam, NonEmpty, resolve_export
from .pack_flow import pack_flow


@pack_flow("botpenguin-segments-members-export")
async def segments_members_export(
    destination: NonEmpty,
    credentials: CredentialsParam = None,
    account: str | None = None,
    segments: list[str] | None = None,
    fields: list[str] | None = None,
    format: ExportFormat | None = None,
    filesystem: FilesystemParam = None,
) -> MembersExportResult:
    """Export the members (contacts) of an account's segments; a failure writes nothing.

    Contacts are personal data: they go only into this export, never into logs, artifacts or
    the run's result, which carry ids and counts. The destination, format and block are
    checked before the first API call.

    Args:
        destination: Where to write: a local path (relative to the worker's directory), an
            fsspec URL such as s3://bucket/members.parquet, or a path inside the filesystem
            block. Put {segment_id} in it for one file per segment.
        credentials: {CREDENTIALS_HELP}
        account: Label for this account in the artifact key; defaults to the block name,
            else BOTPENGUIN_ACCOUNT.
        segments: Ids of the segments to export. Leave empty for every segment.
        fields: Contact fields to keep besides segment_id and id. Leave empty for all.
        format: {FORMAT_HELP}
        filesystem: {FILESYSTEM_HELP}
    """
    target, block = await resolve_export(credentials, account, destination, format, filesystem)
    return await export_segment_members.aio(
        destination,
        segment_ids=segments or None,
        credentials=target.credentials,
        format=format,
        filesystem=block,
        fields=fields or None,
        account=target.label,
    )
