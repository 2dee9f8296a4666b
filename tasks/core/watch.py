"""The watch's decisions, without Prefect: fed the saved state and a fetch, says what to do.

``decide(previous, fetch, options, now)`` answers, in this order:

1. staleness: a fetch older than the saved snapshot (another watch got there first) reports
   nothing and saves nothing;
2. the drop guard: a fetch that lost all or most segments is held (the previous snapshot is
   saved back with one more held run) until ``drop_guard_runs`` runs in a row see it;
3. the diff: what changed since the snapshot (None for a baseline), every field change
   classified by kind (``change_kinds``), and the size moves past the threshold since the
   previous run (``resizes``);
4. whether it is news (``notifies``): creations, removals, definition changes, resizes and
   schema drift are; bookkeeping alone and size drift below the threshold are recorded only;
5. the outbox: the undelivered messages kept (``drop_pending`` empties it);
6. the next state: which segments, fetch time, source and held count to save, and, given the
   account's size history, the history with this run's sizes (``history_run.record_run``);
   a stale or held run records no point and announces no drift.

``owe`` adds this run's change message to the outbox. The flow performs the effects (events,
artifacts, messages, saves) in that order. A new rule (a database load, say) is one more
field on ``WatchDecision`` computed here, plus one more effect in the flow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from .change_kinds import ChangeKindRules, ClassifiedDiff, classify_diff
from .diff import SegmentDiff, diff_segments
from .history_run import record_run
from .locations import target_label
from .models import Segment
from .schema_drift import SchemaDrift
from .size_history import RetentionPolicy, SizeHistory, sizes_from_segments
from .thresholds import Resize, SizeThreshold, resized
from .watch_state import PendingMessage, is_suspicious_drop, target_key


class SavedState(Protocol):
    """What the watch reads of an account's saved state (``snapshots.Snapshot`` has it)."""

    @property
    def segments(self) -> Sequence[Segment]: ...
    @property
    def fetched_at(self) -> datetime: ...
    @property
    def source(self) -> str | None: ...
    @property
    def pending(self) -> Sequence[PendingMessage]: ...
    @property
    def held_drops(self) -> int: ...


@dataclass(frozen=True)
class WatchOptions:
    """How one watch run behaves; the flow parameters of the same names."""

    notify: tuple[str, ...] = ()
    always_notify: bool = False
    accept_drop: bool = False
    reset_state: bool = False
    drop_pending: bool = False
    source: str | None = None
    """Where the segments came from (a block name), recorded with the snapshot."""
    fetched_at: datetime | None = None
    """When the fetch began (None: now); a slower concurrent watch tells it is stale by it."""
    drop_guard_share: float = 0.5
    drop_guard_runs: int = 2
    kinds: ChangeKindRules | None = None
    """Which fields are size and bookkeeping (None: the built-in table)."""
    threshold: SizeThreshold | None = None
    """How far a size must move to notify (None: the defaults, 10% and 10 contacts)."""
    retention: RetentionPolicy | None = None
    """How long size points are kept (None: the defaults, raw 30 days, kept 400)."""


@dataclass(frozen=True)
class Recorded:
    """The account's size history as loaded, and member counts a membership watch measured."""

    account: str
    history: SizeHistory | None
    """None before the first recorded run."""
    member_counts: Mapping[str, int] | None = None


@dataclass(frozen=True)
class Fetch:
    """The segments one run fetched, and when the fetch began."""

    segments: tuple[Segment, ...]
    fetched_at: datetime


class Verdict(StrEnum):
    """What this run does with its fetch."""

    BASELINE = "baseline"
    """No state yet (or reset on purpose): record the fetch, report no change."""
    COMPARED = "compared"
    """Compare with the snapshot and report what changed."""
    HELD = "held"
    """A suspicious drop: keep the snapshot, count the run, report nothing."""
    STALE = "stale"
    """Another watch saved a newer snapshot meanwhile: report and save nothing."""


@dataclass(frozen=True)
class HeldDrop:
    """A fetch that lost too many segments to be trusted yet."""

    previous_count: int
    current_count: int
    lost: int
    held_runs: int
    runs_needed: int

    @property
    def runs_left(self) -> int:
        return self.runs_needed - self.held_runs


@dataclass(frozen=True)
class NextState:
    """The state to save (the outbox is added by the flow, as delivery changes it)."""

    segments: tuple[Segment, ...]
    fetched_at: datetime
    source: str | None
    held_drops: int = 0


@dataclass(frozen=True)
class WatchDecision:
    """Everything one run decided; the flow performs it."""

    verdict: Verdict
    previous_fetched_at: datetime | None
    pending: tuple[PendingMessage, ...] = ()
    """The outbox to keep, before this run's own message."""
    dropped: tuple[str, ...] = ()
    """Ids of undelivered messages given up with ``drop_pending``."""
    diff: SegmentDiff | None = None
    held: HeldDrop | None = None
    """A suspicious drop: kept when the verdict is HELD, accepted (seen enough) otherwise."""
    next_state: NextState | None = None
    """None when nothing is saved (stale)."""
    classified: ClassifiedDiff | None = None
    """``diff`` with every field change's kinds and size move (None with no diff)."""
    resizes: Mapping[str, Resize] = field(default_factory=dict)
    """Segment id -> its size move past the threshold since the previous run."""
    drift: SchemaDrift = field(default_factory=SchemaDrift)
    """Fields that appeared in or left every segment, or changed type (once per drift)."""
    history: SizeHistory | None = None
    """The size history to save (None: none given, or a stale or held run adds no point)."""

    @property
    def notifies(self) -> bool:
        """A compared run with news: a creation, removal, definition change, resize or drift."""
        if self.verdict is not Verdict.COMPARED:
            return False
        noted = self.classified is not None and self.classified.notifies
        return noted or bool(self.resizes) or bool(self.drift)


def is_stale(previous_at: datetime, fetched_at: datetime, now: datetime) -> bool:
    """A snapshot fetched after this fetch began, yet not in this machine's future.

    One dated after "now" comes from a machine whose clock runs ahead and is compared as
    usual: clock skew must not silence a watch.
    """
    return fetched_at <= previous_at <= now


def decide(
    previous: SavedState | None,
    fetch: Fetch,
    options: WatchOptions,
    now: datetime,
    recorded: Recorded | None = None,
) -> WatchDecision:
    """Steps 1-6 of the module docstring; raises ``ChangeDetectionError`` on a bad fetch.

    ``recorded`` (the history as loaded) makes the decision carry the next history; without
    it sizes are compared with the snapshot's count fields only and no history is kept.
    """
    if options.reset_state:
        previous = None
    new_state = NextState(fetch.segments, fetch.fetched_at, options.source)
    rules = options.kinds or ChangeKindRules()
    threshold = options.threshold or SizeThreshold.model_construct()
    step = None
    if recorded is not None:
        step = record_run(
            recorded.history,
            recorded.account,
            fetch.segments,
            fetch.fetched_at,
            rules=rules,
            threshold=threshold,
            policy=options.retention or RetentionPolicy.model_construct(),
            member_counts=recorded.member_counts,
        )
    if previous is None:
        # A baseline holding a segment id twice could never be compared: refuse it now.
        diff_segments([], fetch.segments)
        history = step.history if step else None
        return WatchDecision(Verdict.BASELINE, None, next_state=new_state, history=history)
    at = previous.fetched_at
    if is_stale(at, fetch.fetched_at, now):
        return WatchDecision(Verdict.STALE, at, pending=tuple(previous.pending))
    pending: tuple[PendingMessage, ...] = tuple(previous.pending)
    dropped: tuple[str, ...] = ()
    if options.drop_pending and pending:
        dropped = tuple(owed.id for owed in pending)
        pending = ()
    before = [segment.id for segment in previous.segments]
    held = None
    if not options.accept_drop and is_suspicious_drop(
        before, (segment.id for segment in fetch.segments), options.drop_guard_share
    ):
        held = HeldDrop(
            previous_count=len(before),
            current_count=len(fetch.segments),
            lost=len(set(before) - {segment.id for segment in fetch.segments}),
            held_runs=previous.held_drops + 1,
            runs_needed=options.drop_guard_runs,
        )
        if held.runs_left > 0:
            keep = NextState(tuple(previous.segments), at, previous.source, held.held_runs)
            return WatchDecision(Verdict.HELD, at, pending, dropped, held=held, next_state=keep)
    diff = diff_segments(previous.segments, fetch.segments)
    sizes_before = previous_sizes(previous.segments, recorded, rules)
    sizes_after = dict(step.sizes) if step else sizes_from_segments(fetch.segments, rules)
    resizes = {
        key: move
        for key, size in sizes_after.items()
        if (move := resized(sizes_before.get(key), size, threshold)) is not None
    }
    return WatchDecision(
        Verdict.COMPARED,
        at,
        pending,
        dropped,
        diff=diff,
        held=held,
        next_state=new_state,
        classified=classify_diff(diff, rules, threshold, sizes_before, sizes_after),
        resizes=resizes,
        drift=step.drift if step else SchemaDrift(),
        history=step.history if step else None,
    )


def previous_sizes(
    segments: Sequence[Segment], recorded: Recorded | None, rules: ChangeKindRules
) -> dict[str, int | None]:
    """Each segment's size at the previous run: its last history point (a member count
    counts), else the snapshot's count field (a history started after the snapshot)."""
    sizes = sizes_from_segments(segments, rules)
    if recorded is not None and recorded.history is not None:
        sizes |= {key: recorded.history.last_size(key) for key in recorded.history.points}
    return sizes


def owe(
    pending: Sequence[PendingMessage],
    change: str | None,
    subject: str,
    body: str,
    targets: Sequence[str],
    created_at: datetime,
) -> list[PendingMessage]:
    """The outbox with this run's change message owed to ``targets`` (once per change id)."""
    outbox = list(pending)
    if change and targets and change not in {message.id for message in outbox}:
        outbox.append(owed_message(change, subject, body, targets, created_at))
    return outbox


def owed_message(
    change: str, subject: str, body: str, targets: Sequence[str], created_at: datetime
) -> PendingMessage:
    """The outbox entry for one change message; targets kept as keys and redacted labels."""
    return PendingMessage(
        id=change,
        subject=subject,
        body=f"{body}\n\nChange id: {change}",
        created_at=created_at,
        owed={target_key(target): target_label(target) for target in targets},
    )


def held_message(account: str, held: HeldDrop) -> tuple[str, str]:
    """Subject and body that describe a held drop."""
    return (
        f"BotPenguin {account}: suspicious drop held "
        f"({held.current_count} of {held.previous_count} segments returned)",
        f'Account "{account}": the API returned {held.current_count} segment(s) where the '
        f"snapshot has {held.previous_count} ({held.lost} missing). Nothing was reported and "
        f"the snapshot is kept; the drop is accepted if {held.runs_left} more "
        "run(s) in a row see it, or now with --accept-drop.",
    )


def stale_message(account: str) -> tuple[str, str]:
    """Subject and body of a run whose fetch was older than the saved snapshot."""
    return (
        f"BotPenguin {account}: nothing to report (a newer snapshot exists)",
        f'Account "{account}": another watch saved a newer snapshot while this run '
        "fetched, and reported any change itself.",
    )
