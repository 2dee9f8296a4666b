"""``segments_report``: fetch one account's segments and record them as artifacts."""

from __future__ import annotations

from prefect import flow

from .._compat import eager_annotations
from ..artifacts import publish_segments_artifact
from ..core.models import Segment
from ..segments import fetch_segments
from .common import CredentialsParam, resolve_account


@flow(name="botpenguin-segments-report", log_prints=False)
@eager_annotations
async def segments_report(
    credentials: CredentialsParam = None, account: str | None = None
) -> list[Segment]:
    """Fetch an account's segments and publish them as a table and a summary artifact.

    Prefect's UI shows the Args below as each parameter's help text.

    Args:
        credentials: A saved BotPenguin Credentials block (pick one; its name also works).
            Leave empty to use the BOTPENGUIN_API_TOKEN and BOTPENGUIN_BASE_URL environment
            variables.
        account: Label for this account in artifact keys; defaults to the block name, else
            BOTPENGUIN_ACCOUNT.
    """
    target = await resolve_account(credentials, account)
    segments = await fetch_segments.aio(target.credentials)
    await publish_segments_artifact.aio(segments, account=target.label, source=target.source)
    return segments
