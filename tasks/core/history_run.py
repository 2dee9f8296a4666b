"""What one accepted watch run adds to the account's history: the one call the watch makes.

Given the stored history (None on a first run), the run's segments and, when a membership
watch measured them, member counts: the sizes (API count first, member count where the API
sent none), the size moves past the threshold since the previous recorded run, the schema
drift since the stored schema, and the next history to save -- appended, compacted, schema
updated. Pure: the caller saves ``history`` only for a run it accepts (not a failed or held
one), and in that case emits ``resizes`` and ``drift``. No Prefect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from .change_kinds import ChangeKindRules
from .models import Segment
from .schema_drift import SchemaDrift, schema_drift, schema_of
from .size_history import (
    RetentionPolicy,
    SizeHistory,
    append_sizes,
    compact,
    merge_member_sizes,
    sizes_from_members,
    sizes_from_segments,
)
from .thresholds import Resize, SizeThreshold, resized


@dataclass(frozen=True)
class HistoryStep:
    """The outcome of ``record_run``: what to save and what to announce."""

    history: SizeHistory
    sizes: Mapping[str, int | None]
    """Segment id -> this run's size (None: neither the API nor a member count gave one)."""
    resizes: Mapping[str, Resize]
    """Segment id -> its move since the previous recorded run, for those past the threshold."""
    drift: SchemaDrift


def record_run(
    history: SizeHistory | None,
    account: str,
    segments: Sequence[Segment],
    at: datetime,
    *,
    rules: ChangeKindRules,
    threshold: SizeThreshold,
    policy: RetentionPolicy,
    member_counts: Mapping[str, int] | None = None,
) -> HistoryStep:
    """One accepted run's sizes, resizes, schema drift and next history (see module doc)."""
    previous = history or SizeHistory(account=account)
    sizes, sources = merge_member_sizes(
        sizes_from_segments(segments, rules), sizes_from_members(member_counts or {})
    )
    resizes = {
        segment_id: move
        for segment_id, size in sizes.items()
        if (move := resized(previous.last_size(segment_id), size, threshold)) is not None
    }
    schema = schema_of(segments)
    drift = schema_drift(previous.last_schema, schema)
    names = {segment.id: segment.name for segment in segments if segment.name is not None}
    updated = append_sizes(previous, sizes, at, sources, names).with_schema(schema)
    return HistoryStep(
        history=compact(updated, at, policy), sizes=sizes, resizes=resizes, drift=drift
    )
