"""When a segment's size move is worth a message: a relative *and* an absolute threshold.

A move notifies only when it passes both, so the two failure modes of a single number cancel
out: a percentage alone fires on tiny audiences (5 -> 8 contacts is +60%), a count alone
fires on every run of a big one (+1% of 1,000,000 is 10,000). Sizes are compared with the
previous run's size, not a baseline or an average: the watch reports what moved since the
message before, so a slow drift never accumulates into a surprise alert about old news, and
a swing is announced once, on the run that saw it. No Prefect import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings

from .errors import ConfigurationError
from .settings import env_config, read_settings


class SizeThreshold(BaseSettings):
    """How far a size must move to notify (env ``BOTPENGUIN_RESIZE_RELATIVE`` / ``_ABSOLUTE``).

    Defaults: 10% and 10 contacts. A live account drifts about 1% per run, ten times below
    the relative bar; a -40% swing of a 100-contact audience (40 contacts) passes both; an
    audience of a handful of contacts needs 10 of them to move, so its noise stays quiet.
    """

    model_config = env_config("BOTPENGUIN_RESIZE_", frozen=True)

    relative: float = Field(
        default=10.0,
        ge=0,
        description="Percent of the previous size a segment must grow or shrink by to notify.",
    )
    absolute: int = Field(
        default=10,
        ge=0,
        description="Contacts a segment must gain or lose to notify (together with relative).",
    )


def load_size_threshold(
    relative: float | None = None, absolute: int | None = None
) -> SizeThreshold:
    """``SizeThreshold`` from the environment, with a deployment's own values where given.

    ``relative`` / ``absolute`` (the watch's ``resize_relative`` / ``resize_absolute``
    parameters) win over ``BOTPENGUIN_RESIZE_*``; None keeps the setting. A bad value is one
    ``ConfigurationError`` line naming both the parameter and the setting.
    """
    threshold = read_settings(SizeThreshold, "resize threshold")
    given: dict[str, Any] = {
        key: value
        for key, value in (("relative", relative), ("absolute", absolute))
        if value is not None
    }
    if not given:
        return threshold
    try:
        return SizeThreshold(**{**threshold.model_dump(), **given})
    except ValidationError as exc:
        problems = "; ".join(
            f"resize_{err['loc'][0]} (BOTPENGUIN_RESIZE_{str(err['loc'][0]).upper()}): {err['msg']}"
            for err in exc.errors(include_input=False)
        )
        raise ConfigurationError(f"Invalid BotPenguin resize threshold: {problems}") from None


@dataclass(frozen=True)
class Resize:
    """A size move past the threshold: the ``botpenguin.segment.resized`` event's payload."""

    before: int
    after: int
    percent: float | None
    """Signed change in percent of ``before``; None when ``before`` is 0 (no base to divide)."""

    def to_dict(self) -> dict[str, int | float | None]:
        """JSON-ready form for events and artifacts (sizes are counts, never contacts)."""
        return {"before": self.before, "after": self.after, "percent": self.percent}


def percent_change(before: int, after: int) -> float | None:
    """``after`` relative to ``before`` in percent, rounded to 0.1; None from 0."""
    if before == 0:
        return None
    return round((after - before) * 100 / before, 1)


def resized(before: int | None, after: int | None, threshold: SizeThreshold) -> Resize | None:
    """The ``Resize`` when ``before -> after`` moves at least both thresholds, else None.

    Either size unknown (the API sent no count, or the segment is new) is no resize: a
    creation or removal is announced as such. From 0, any growth passes the relative bar.
    """
    if before is None or after is None or before == after:
        return None
    moved = abs(after - before)
    if moved < threshold.absolute:
        return None
    if before and moved * 100 < threshold.relative * before:
        return None
    return Resize(before=before, after=after, percent=percent_change(before, after))


SWING_CAP = 999
"""The largest swing a label states; a bigger one, or growth from 0, is labelled ``999``."""


def swing_label(resize: Resize) -> str:
    """The swing as three digits (whole percent, either direction): ``-61.5%`` is ``061``.

    A ``botpenguin.segment.resized`` event carries it as a resource label, so a Prefect
    trigger can match "past N%" with ``swing_patterns`` (triggers match labels, not numbers).
    """
    if resize.percent is None:
        return f"{SWING_CAP:03d}"
    return f"{min(int(abs(resize.percent)), SWING_CAP):03d}"


def swing_patterns(percent: int) -> list[str]:
    """Label patterns matching every ``swing_label`` of ``percent`` or more.

    Prefect matches a label against a list of values, each exact or ending in ``*`` (a
    prefix), so ``40`` becomes ``04*`` ... ``09*``, ``1*`` ... ``9*``: at most 27 patterns.
    """
    if not 0 <= percent <= SWING_CAP:
        raise ConfigurationError(
            f"A swing is a whole percent from 0 to {SWING_CAP}, not {percent}."
        )
    patterns: list[str] = []
    value = percent
    while value <= SWING_CAP:
        digits = next(k for k in (2, 1, 0) if value % 10**k == 0)
        patterns.append(f"{value:03d}"[: 3 - digits] + ("*" if digits else ""))
        value += 10**digits
    return patterns
