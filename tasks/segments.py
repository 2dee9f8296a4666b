"""The ``fetch_segments`` task (``afetch_segments`` in async code) and the filter that decides
which failures Prefect retries."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger
from prefect.client.schemas.objects import State, TaskRun
from prefect.tasks import Task

from ._dispatch import dual_task
from .core.client import BotPenguinClient
from .core.errors import BotPenguinError
from .core.models import Segment
from .credentials import BotPenguinCredentials

TASK_RETRIES = 2
TASK_RETRY_DELAYS: list[float] = [10.0, 30.0]


def retry_only_transient_failures(task: Task[Any, Any], task_run: TaskRun, state: State) -> bool:
    """``retry_condition_fn``: retry a whole fetch only when another one may succeed.

    Auth, bad-request and malformed-response errors fail at once (the client did not retry them
    either); a bug in our own code is not retried, since running it again cannot fix it.
    """
    error = state.data
    return isinstance(error, BotPenguinError) and error.retryable


async def _fetch_segments(credentials: BotPenguinCredentials | None = None) -> list[Segment]:
    """Fetch all segments of one account.

    The client retries single requests (429, 5xx, network) within its deadline; this task
    retries the whole fetch twice more (after 10 s, then 30 s) for failures that outlast it.
    Worst case with default settings: 3 fetches x 4 requests = 12 requests in about 4 minutes.

    Args:
        credentials: A saved ``BotPenguinCredentials`` block. When omitted, the token and host
            come from ``BOTPENGUIN_API_TOKEN`` and ``BOTPENGUIN_BASE_URL``.

    Returns:
        The account's segments; every field the API sent is kept.

    Example:
        Fetch the segments of a saved account and count them (in an ``async def`` flow,
        ``await fetch_segments(credentials)``, or ``await afetch_segments(...)`` for type
        checkers):
        ```python
        from prefect import flow
        from prefect_botpenguin import BotPenguinCredentials, fetch_segments

        @flow
        def count_segments() -> int:
            credentials = BotPenguinCredentials.load("BLOCK_NAME")
            segments = fetch_segments(credentials)
            return len(segments)

        if __name__ == "__main__":
            print(count_segments())
        ```
    """
    logger = get_run_logger()
    if credentials is not None:
        client = credentials.get_client(logger=logger)
    else:
        client = BotPenguinClient.from_settings(logger=logger)
    async with client:
        segments = await client.get_segments()
    logger.info("Fetched %d segment(s) from %s", len(segments), client.base_url)
    return segments


afetch_segments, fetch_segments = dual_task(
    _fetch_segments,
    name="fetch-botpenguin-segments",
    description="Fetch every segment of one BotPenguin account (GET /inbox/segments).",
    retries=TASK_RETRIES,
    retry_delay_seconds=TASK_RETRY_DELAYS,
    retry_condition_fn=retry_only_transient_failures,
    timeout_seconds=300,
)
