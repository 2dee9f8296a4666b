"""Each segment's size over time, kept in the account's state beside its snapshot. No Prefect.

One JSON file per account, ``<state>/<account-slug>.history.json``, on any storage the
snapshot uses (local path or fsspec URL; a filesystem block becomes one of those, see
``flows.common.state_location``), written atomically like it. It also keeps the last schema
of the account's segments (``schema_drift``), so a drift is announced once.

Append-only and bounded: a run adds one point per segment whose size it knows, and
``compact`` keeps raw points for ``raw_days``, then the newest point of each UTC day, and
drops points older than ``keep_days``. A failed or held run adds nothing: the caller appends
only once the run's fetch is accepted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings

from .change_kinds import ChangeKindRules, count_of
from .errors import SnapshotError
from .jsontext import read_json
from .locations import display_location
from .models import Segment
from .schema_drift import SegmentSchema
from .settings import env_config, read_settings
from .state_files import StateFile

HISTORY_FORMAT = "prefect-botpenguin/segment-size-history"
HISTORY_VERSION = 1
SizeSource = Literal["api", "members"]
"""Where a size came from: the API's count field, or a membership watch's member count."""


class RetentionPolicy(BaseSettings):
    """How long size points are kept (env ``BOTPENGUIN_HISTORY_RAW_DAYS`` / ``_KEEP_DAYS``).

    Defaults: every point for 30 days (a month of runs, enough to see what one run did),
    then one per day up to 400 days (a year and a month, so a year-on-year comparison of the
    same month still has data). A segment watched every 5 minutes keeps about 9,000 raw
    points plus 370 daily ones: bounded whatever the schedule.
    """

    model_config = env_config("BOTPENGUIN_HISTORY_", frozen=True)

    raw_days: int = Field(default=30, ge=0, description="Days every recorded point is kept.")
    keep_days: int = Field(
        default=400, ge=1, description="Days any point is kept; older ones are dropped."
    )


def load_retention_policy() -> RetentionPolicy:
    """``RetentionPolicy`` from the environment, or one ``ConfigurationError`` line."""
    return read_settings(RetentionPolicy, "history settings")


class SizePoint(BaseModel):
    """One segment's size as one run saw it."""

    model_config = ConfigDict(frozen=True)

    at: AwareDatetime
    size: int = Field(ge=0)
    source: SizeSource = "api"


class SizeHistory(BaseModel):
    """An account's size points per segment id (oldest first), names, and last schema."""

    model_config = ConfigDict(frozen=True)

    account: str
    points: dict[str, tuple[SizePoint, ...]] = Field(default_factory=dict)
    names: dict[str, str] = Field(default_factory=dict)
    """Segment id -> its latest name, so a removed segment's history still reads well."""
    segment_schema: dict[str, Any] | None = None
    """``SegmentSchema.to_dict()`` of the last accepted fetch (None before the first)."""

    @property
    def last_schema(self) -> SegmentSchema | None:
        """The last accepted fetch's schema, for ``schema_drift``."""
        if self.segment_schema is None:
            return None
        return SegmentSchema.from_dict(self.segment_schema)

    def with_schema(self, schema: SegmentSchema | None) -> SizeHistory:
        """This history keeping ``schema`` as the last one (None leaves the stored one)."""
        if schema is None:
            return self
        return self.model_copy(update={"segment_schema": schema.to_dict()})

    def sizes(self, segment_id: str) -> list[int]:
        """The segment's sizes, oldest first (for ``trend.sparkline``)."""
        return [point.size for point in self.points.get(segment_id, ())]

    def last_size(self, segment_id: str) -> int | None:
        """The previous run's size of a segment, what a resize is measured from."""
        points = self.points.get(segment_id)
        return points[-1].size if points else None

    def to_json_bytes(self) -> bytes:
        """The file's content, with its format and version first."""
        document = {
            "format": HISTORY_FORMAT,
            "version": HISTORY_VERSION,
            **self.model_dump(mode="json"),
        }
        return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")

    @classmethod
    def from_json_bytes(cls, data: bytes, location: str) -> SizeHistory:
        """Parse a history file; anything unexpected is a ``SnapshotError`` naming the file."""
        shown = display_location(location)
        try:
            document = read_json(data)[0]
        except ValueError:
            document = None
        if not isinstance(document, dict) or document.get("format") != HISTORY_FORMAT:
            raise SnapshotError(
                f"{shown} is not a prefect-botpenguin size history (truncated or another file); "
                "move it aside and the next run starts a new history."
            )
        version = document.get("version")
        if version != HISTORY_VERSION:
            raise SnapshotError(
                f"Size history {shown} has format version {version!r}, this prefect-botpenguin "
                f"reads {HISTORY_VERSION}; upgrade prefect-botpenguin, or move the file aside."
            )
        fields = {k: v for k, v in document.items() if k not in ("format", "version")}
        try:
            history = cls.model_validate(fields)
            _ = history.last_schema
        except (ValidationError, ValueError):
            raise SnapshotError(
                f"Size history {shown} is corrupted; move it aside and the next run starts a "
                "new history (the snapshot is not affected)."
            ) from None
        return history


def sizes_from_segments(
    segments: Iterable[Segment], rules: ChangeKindRules | None = None
) -> dict[str, int | None]:
    """Segment id -> the size its count field states (first of ``rules.size_fields``), or None."""
    chosen = rules or ChangeKindRules()
    return {segment.id: count_of(segment.to_api_dict(), chosen) for segment in segments}


def sizes_from_members(counts: Mapping[str, int]) -> dict[str, int | None]:
    """Segment id -> member count measured by a membership watch (negative counts refused)."""
    if any(count < 0 for count in counts.values()):
        raise ValueError("member counts cannot be negative")
    return dict(counts)


def append_sizes(
    history: SizeHistory,
    sizes: Mapping[str, int | None],
    at: datetime,
    source: SizeSource | Mapping[str, SizeSource] = "api",
    names: Mapping[str, str] | None = None,
) -> SizeHistory:
    """``history`` with one point per known size at ``at``; unknown (None) sizes add nothing.

    ``source`` is one for all points, or per segment id (``merge_member_sizes``'s second
    result; a missing id is ``api``).

    Append-only: a point no newer than a segment's last one is ignored, so replaying a run
    never records it twice nor rewrites the past.
    """
    points = dict(history.points)
    for segment_id, size in sizes.items():
        if size is None:
            continue
        old = points.get(segment_id, ())
        if old and old[-1].at >= at:
            continue
        origin = source if isinstance(source, str) else source.get(segment_id, "api")
        points[segment_id] = (*old, SizePoint(at=at, size=size, source=origin))
    merged = {**history.names, **(names or {})}
    return history.model_copy(update={"points": points, "names": merged})


def merge_member_sizes(
    api: Mapping[str, int | None], members: Mapping[str, int | None]
) -> tuple[dict[str, int | None], dict[str, SizeSource]]:
    """The API's sizes, with member counts where the API sent none, and each size's source."""
    sizes = dict(api)
    sources: dict[str, SizeSource] = {key: "api" for key, value in api.items() if value is not None}
    for segment_id, count in members.items():
        if sizes.get(segment_id) is None and count is not None:
            sizes[segment_id] = count
            sources[segment_id] = "members"
    return sizes, sources


def compact_points(
    points: Iterable[SizePoint], now: datetime, policy: RetentionPolicy
) -> tuple[SizePoint, ...]:
    """Raw points newer than ``raw_days``; before that the newest point of each UTC day;
    nothing older than ``keep_days``. Order (oldest first) is kept."""
    raw_since = now - timedelta(days=policy.raw_days)
    keep_since = now - timedelta(days=policy.keep_days)
    daily: dict[object, SizePoint] = {}
    kept: list[SizePoint] = []
    for point in sorted(points, key=lambda p: p.at):
        if point.at < keep_since:
            continue
        if point.at >= raw_since:
            kept.append(point)
        else:
            daily[point.at.astimezone(UTC).date()] = point  # later points of the day win
    return (*daily.values(), *kept)


def compact(history: SizeHistory, now: datetime, policy: RetentionPolicy) -> SizeHistory:
    """``compact_points`` for every segment; segments left with no point are forgotten."""
    points = {}
    for segment_id, series in history.points.items():
        kept = compact_points(series, now, policy)
        if kept:
            points[segment_id] = kept
    names = {key: value for key, value in history.names.items() if key in points}
    return history.model_copy(update={"points": points, "names": names})


_FILE = StateFile(".history.json", "size history", SizeHistory.from_json_bytes, "history")
history_location = _FILE.location
read_history = _FILE.read
write_history = _FILE.write
