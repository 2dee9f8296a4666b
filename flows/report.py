"""``segments_report``: fetch one account's segments and record them as artifacts."""

from __future__ import annotations

from ..artifacts import publish_segments_artifact
from ..core.models import Segment
from ..history import read_trend_history
from ..segments import fetch_segments
from ..snapshots import DEFAULT_STATE_DIR
from .common import (
    CredentialsParam,
    FilesystemParam,
    resolve_account,
    resolve_filesystem,
    state_location,
)
from .pack_flow import pack_flow


@pack_flow("botpenguin-segments-report")
async def segments_report(
    credentials: CredentialsParam = None,
    account: str | None = None,
    state: str = DEFAULT_STATE_DIR,
    state_filesystem: FilesystemParam = None,
) -> list[Segment]:
    """Fetch an account's segments and publish them as a table and a summary artifact.

    The summary's Trend column draws each segment's recorded sizes (the watch records one
    per run) as a sparkline with first → last; "—" where none is recorded yet.
    Prefect's UI shows the Args below as each parameter's help text.

    Args:
        credentials: {CREDENTIALS_HELP}
        account: Label for this account in artifact keys; defaults to the block name, else
            BOTPENGUIN_ACCOUNT.
        state: The watch's state directory, where the size history the Trend column draws
            is read: a local path or an fsspec URL, or a path inside state_filesystem.
        state_filesystem: A saved filesystem block holding the watch's state directory (pick
            one, or give BLOCK-TYPE/NAME). Leave empty for state alone.
    """
    target = await resolve_account(credentials, account)
    location = state_location(state, await resolve_filesystem(state_filesystem))
    segments = await fetch_segments.aio(target.credentials)
    history = await read_trend_history(target.label, location)
    await publish_segments_artifact.aio(
        segments, account=target.label, source=target.source, history=history
    )
    return segments
