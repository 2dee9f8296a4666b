"""What a fan-out returns: each account's outcome, and the same without segment data.

Kept apart from the engine (``.fanout``) so the report, its summary and the failure message
read in one sitting; both report shapes share their totals (``_Totals``). No Prefect import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .errors import FanoutFailedError
from .models import Segment

DEFAULT_CONCURRENCY = 8
SUMMARY_KEY = "botpenguin-fanout-summary"
"""The summary artifact's key (published by the Prefect layer), named in failure messages."""
SUMMARY_FAILURE_LIMIT = 5
"""Failed accounts named in the one-line failure message; the summary artifact lists all."""


class _Line(Protocol):
    @property
    def ok(self) -> bool: ...

    @property
    def segment_count(self) -> int: ...


L = TypeVar("L", bound=_Line)


class _Totals(BaseModel, Generic[L]):
    """Totals over one line per account, for the report and its summary alike."""

    model_config = ConfigDict(frozen=True)

    seconds: float = Field(default=0.0, description="Wall time of the whole fan-out.")
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, description="Requests in flight, max.")

    def _lines(self) -> Sequence[L]:
        raise NotImplementedError

    @property
    def succeeded(self) -> list[L]:
        return [line for line in self._lines() if line.ok]

    @property
    def failed(self) -> list[L]:
        return [line for line in self._lines() if not line.ok]

    @property
    def segment_count(self) -> int:
        return sum(line.segment_count for line in self._lines())

    def __repr__(self) -> str:
        # Short on purpose: Python 3.11's asyncio.run formats the main task's result with
        # repr(), and spelling out every segment of 500 accounts took tens of milliseconds.
        return (
            f"{type(self).__name__}(accounts={len(self._lines())}, failed={len(self.failed)}, "
            f"segments={self.segment_count}, seconds={self.seconds:.2f})"
        )


class _Account(BaseModel):
    """What every line about one account says, with or without its segments."""

    model_config = ConfigDict(frozen=True)

    label: str = Field(description="Account name (block name or customer name).")
    error: str | None = Field(default=None, description="Why it failed, one line, no token.")
    customer_id: str | None = Field(default=None, description="Customer id, when discovered.")
    seconds: float = Field(default=0.0, description="Wall time spent on this account.")

    @property
    def ok(self) -> bool:
        return self.error is None


class AccountOutcome(_Account):
    """What a fan-out got from one account: its segments, or a one-line error."""

    segments: list[Segment] = Field(default_factory=list, description="Empty when failed.")

    @property
    def segment_count(self) -> int:
        return len(self.segments)


class FanoutReport(_Totals[AccountOutcome]):
    """Every account's outcome, in the order the accounts were given or listed."""

    outcomes: list[AccountOutcome] = Field(default_factory=list)

    def _lines(self) -> list[AccountOutcome]:
        return self.outcomes

    def summary(self) -> FanoutSummary:
        """The report without segment data, e.g. as a flow's result."""
        return FanoutSummary(
            accounts=[
                AccountSummary(
                    label=o.label,
                    segment_count=len(o.segments),
                    error=o.error,
                    customer_id=o.customer_id,
                    seconds=o.seconds,
                )
                for o in self.outcomes
            ],
            seconds=self.seconds,
            concurrency=self.concurrency,
        )

    def failure_error(
        self, also: Sequence[tuple[str, str]] = (), summary_key: str = SUMMARY_KEY
    ) -> FanoutFailedError | None:
        """The error that ends a fan-out with failed accounts (None when all succeeded).

        ``also`` adds later failures, e.g. ``(label, error)`` of exports that could not be
        written, so one message names everything that went wrong; ``summary_key`` is the
        artifact that lists every failure.
        """
        failures = [(o.label, o.error or "") for o in self.failed] + list(also)
        if not failures:
            return None
        named = "; ".join(
            f"{label}: {error.rstrip('.')}" for label, error in failures[:SUMMARY_FAILURE_LIMIT]
        )
        more = len(failures) - SUMMARY_FAILURE_LIMIT
        rest = f"; and {more} more (see the {summary_key} artifact)" if more > 0 else ""
        what = f"{len(self.failed)} of {len(self.outcomes)} BotPenguin account(s) failed"
        if also:
            what += f", {len(also)} export(s) failed"
        return FanoutFailedError(
            f"{what}; everything else was collected and saved: {named}{rest}.", failures
        )


class AccountSummary(_Account):
    """One account's line in a fan-out's result: how many segments, or why it failed."""

    segment_count: int = Field(default=0, description="Segments collected; 0 when failed.")


class FanoutSummary(_Totals[AccountSummary]):
    """What the fan-out flow returns: counts and errors per account, no segment data.

    A flow's result must stay small: Prefect walks every value of it, and may persist it.
    The segments themselves are in the artifacts and exports.
    """

    accounts: list[AccountSummary] = Field(default_factory=list)

    def _lines(self) -> list[AccountSummary]:
        return self.accounts
