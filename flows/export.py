"""``segments_export``: fetch one account's segments and write them to a file, atomically."""

from __future__ import annotations

from ..core.formats import ExportFormat
from ..exports import ExportResult
from ..segments import fetch_segments
from .common import CredentialsParam, FilesystemParam, NonEmpty, export_fetched, resolve_export
from .pack_flow import pack_flow


@pack_flow("botpenguin-segments-export")
async def segments_export(
    destination: NonEmpty,
    credentials: CredentialsParam = None,
    account: str | None = None,
    format: ExportFormat | None = None,
    filesystem: FilesystemParam = None,
) -> ExportResult:
    """Fetch an account's segments and export them; a failed fetch writes nothing.

    The destination, format and block are checked before fetching, so a typo fails at once.
    Prefect's UI shows the Args below as each parameter's help text.

    Args:
        destination: Where to write: a local path (relative to the worker's directory), an
            fsspec URL such as s3://bucket/segments.parquet, or a path inside the filesystem
            block.
        credentials: {CREDENTIALS_HELP}
        account: Label for this account in the artifact key; defaults to the block name,
            else BOTPENGUIN_ACCOUNT.
        format: {FORMAT_HELP}
        filesystem: {FILESYSTEM_HELP}
    """
    target, block = await resolve_export(credentials, account, destination, format, filesystem)
    segments = await fetch_segments.aio(target.credentials)
    return await export_fetched(segments, target, destination, format, block)
