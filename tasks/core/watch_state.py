"""What a watch keeps besides the segments: undelivered messages and held drops (no Prefect).

A watch run saves these with the account's snapshot, in the same atomic write, so the
snapshot, the messages still owed and the drop guard's count never disagree.

- ``PendingMessage``: a change message owed to notification targets (the outbox). Targets are
  kept as a keyed hash and a redacted label, never as the URL, which may carry a token.
- ``is_suspicious_drop``: a fetch that lost every segment, or more than a share of them, is
  held until it is seen again (or accepted), because an API glitch looks exactly like that.
- ``WatchSettings``: the knobs, from ``BOTPENGUIN_*`` environment variables.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings

from .settings import env_config, read_settings


class WatchSettings(BaseSettings):
    """The watch's reliability knobs (env prefix ``BOTPENGUIN_``)."""

    model_config = env_config()

    drop_guard_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description=(
            "A fetch losing more than this share of the snapshot's segments (or all of them) "
            "is held as suspicious instead of reported as removals."
        ),
    )
    drop_guard_runs: int = Field(
        default=2,
        ge=1,
        description="Consecutive runs a suspicious drop must be seen before it is accepted.",
    )
    watch_lock_timeout: float = Field(
        default=120.0,
        gt=0,
        description="Seconds to wait for another watch of the same account to finish.",
    )


def load_watch_settings() -> WatchSettings:
    """``WatchSettings`` from the environment, or one ``ConfigurationError`` line."""
    return read_settings(WatchSettings, "watch settings")


def target_key(target: str) -> str:
    """A stable key for a notification target that does not reveal it (URLs hold tokens)."""
    return hashlib.sha256(target.strip().encode("utf-8")).hexdigest()[:24]


class PendingMessage(BaseModel):
    """One change message and the targets that still have to receive it."""

    model_config = ConfigDict(frozen=True)

    id: str
    subject: str
    body: str
    created_at: AwareDatetime
    owed: dict[str, str]
    """Target key -> redacted label, for every target the message is due to."""
    delivered: tuple[str, ...] = ()
    """Keys of the targets that accepted it; it is never sent to them again."""

    def missing(self) -> list[str]:
        """Keys of the targets still waiting for this message, in a stable order."""
        return sorted(key for key in self.owed if key not in self.delivered)

    @property
    def done(self) -> bool:
        return not self.missing()


def is_suspicious_drop(previous: Collection[str], current: Iterable[str], share: float) -> bool:
    """True when ``current`` ids lost all, or more than ``share``, of a non-empty ``previous``."""
    if not previous:
        return False
    now = set(current)
    if not now:
        return True
    lost = sum(1 for segment_id in previous if segment_id not in now)
    return lost / len(previous) > share
