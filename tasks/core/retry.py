"""The pack's one HTTP retry policy: capped exponential backoff with jitter inside a deadline.

Worst case for one API call: ``max_attempts`` requests, and no wait is started that would end
after ``deadline`` seconds (each request is also cut off at the deadline), so a call never
takes much longer than ``deadline``. With the defaults (4 attempts, 0.5 s base, 8 s cap,
60 s deadline) that is 4 requests and at most 60 s.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic-settings is loaded only where settings are read
    from .settings import BotPenguinSettings


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long the client retries temporary failures (429, 5xx, network)."""

    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    deadline: float = 60.0
    max_retry_after: float = 60.0

    @classmethod
    def from_settings(cls, settings: BotPenguinSettings) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
            backoff_base=settings.backoff_base,
            backoff_cap=settings.backoff_cap,
            deadline=settings.deadline,
            max_retry_after=settings.max_retry_after,
        )

    def backoff(self, retry_number: int, random: Callable[[], float]) -> float:
        """Wait before retry ``retry_number`` (1-based): "equal jitter" over a capped doubling.

        Half the step is fixed so retries never hammer the API back to back; the other half is
        random so many clients that failed together do not retry together.
        """
        step = min(self.backoff_cap, self.backoff_base * 2.0 ** (retry_number - 1))
        return step / 2 + random() * step / 2


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP-date), or None.

    Negative and past values mean "retry now" (0); an unreadable value is ignored (None) so the
    normal backoff applies.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)
