"""A watch run's words once its changes are classified: what the message names, and notes.

The message names what is news (``WatchDecision.notifies``): creations, removals, definition
changes, each resize with its compact trend (``▁▂▃▅▇ 412 → 530 (+29%)``) and schema drift.
Bookkeeping and size drift below the threshold are counted in one line, not listed; the
change artifact shows every change with its kind, plus the notes built here. Counts and
field names only, never a contact.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

from .change_summary import (
    ChangeMessage,
    _one_line,
    change_sections,
    describe_changes,
    members_section,
    members_summary,
    summary_counts,
)
from .core.change_kinds import ChangeKind
from .core.diff import SegmentDiff
from .core.markdown import cell
from .core.membership_diff import MembershipChange
from .core.size_history import SizeHistory
from .core.trend import format_percent, trend_text
from .core.watch import WatchDecision
from .history_artifacts import trend_cell


def _names(decision: WatchDecision) -> dict[str, str | None]:
    """Segment id -> its name now, for every segment the run fetched."""
    state = decision.next_state
    return {s.id: s.name for s in state.segments} if state else {}


def definition_diff(decision: WatchDecision) -> SegmentDiff:
    """Creations, removals and the changes with a definition field: the message's sections."""
    classified = decision.classified
    if classified is None:
        return decision.diff or SegmentDiff()
    kept = tuple(c.change for c in classified.changes if ChangeKind.DEFINITION in c.fields)
    return SegmentDiff(classified.diff.created, classified.diff.removed, kept)


def notable_summary(decision: WatchDecision) -> str:
    """``1 renamed, 1 resized, schema changed``: what the subject line counts."""
    parts = [summary_counts(definition_diff(decision))] if definition_diff(decision) else []
    if decision.resizes:
        parts.append(f"{len(decision.resizes)} resized")
    if decision.drift:
        parts.append("schema changed")
    return ", ".join(parts)


def resize_lines(decision: WatchDecision, history: SizeHistory | None) -> list[str]:
    """One line per resize: name, id, the move, and the segment's recorded trend."""
    names = _names(decision)
    lines = []
    for segment_id, move in decision.resizes.items():
        line = (
            f'"{_one_line(names.get(segment_id))}" [{segment_id}]: {move.before} -> '
            f"{move.after} ({format_percent(move.before, move.after)})"
        )
        sizes = history.sizes(segment_id) if history else []
        lines.append(f"{line}; trend {trend_text(sizes)}" if sizes else line)
    return lines


def drift_lines(decision: WatchDecision) -> list[str]:
    """``appeared: tier`` etc., field names only."""
    drift = decision.drift.to_dict()
    return [f"{what}: {', '.join(names)}" for what, names in drift.items() if names]


def quiet_line(decision: WatchDecision) -> str | None:
    """How many changes were recorded but not announced, or None."""
    quiet = decision.classified.quiet if decision.classified else ()
    if not quiet:
        return None
    return (
        f"Recorded, not announced: {len(quiet)} segment(s) with only bookkeeping changes or "
        "size drift below the threshold (see the change artifact)."
    )


def describe_run(
    decision: WatchDecision,
    account: str,
    *,
    segment_count: int,
    history: SizeHistory | None,
    members: Sequence[MembershipChange] | None = None,
) -> ChangeMessage:
    """The run's message: news in sections, each resize with its trend, drift, a quiet count.

    A baseline, or a run with no news, reads as ``describe_changes`` says (plus the count of
    what was recorded quietly).
    """
    at = decision.previous_fetched_at
    summary = notable_summary(decision)
    quiet = quiet_line(decision)
    if decision.classified is None or not summary:
        diff = definition_diff(decision) if decision.classified else decision.diff
        base = describe_changes(
            diff, account, segment_count=segment_count, previous_fetched_at=at, members=members
        )
        if not quiet:
            return base
        subject = base.subject if members else f"BotPenguin {account}: no notable change"
        return ChangeMessage(subject, f"{base.body}\n\n{quiet}")
    since = f" since {at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if at else ""
    lines = [f'Account "{account}": {summary}{since}.', ""]
    lines += change_sections(definition_diff(decision))
    lines += _section("Resized", resize_lines(decision, history))
    lines += _section("Schema changed", drift_lines(decision))
    lines += members_section(members) if members else []
    lines += ["", quiet] if quiet else []
    subject = f"BotPenguin {account}: {summary}"
    if members:
        subject += f"; {members_summary(members)}"
    return ChangeMessage(subject, "\n".join(lines))


def _section(title: str, lines: list[str]) -> list[str]:
    return [f"{title} ({len(lines)}):", *(f"  {line}" for line in lines)] if lines else []


def history_notes(decision: WatchDecision, history: SizeHistory | None) -> str | None:
    """Markdown for the change artifact: the resizes with trends, drift, the quiet count."""
    parts = []
    if decision.resizes:
        names = _names(decision)
        rows = [
            f"| {cell(_one_line(names.get(key)))} | `{key}` | {move.before} | {move.after} | "
            f"{format_percent(move.before, move.after)} | "
            f"{trend_cell(history, key)} |"
            for key, move in decision.resizes.items()
        ]
        parts.append(
            f"## Resized ({len(rows)})\n\n| Segment | ID | Before | After | Change | Trend |\n"
            "|---|---|---:|---:|---:|---|\n" + "\n".join(rows)
        )
    if decision.drift:
        parts.append(
            "## Schema changed\n\n" + "\n".join(f"- {line}" for line in drift_lines(decision))
        )
    quiet = quiet_line(decision)
    if quiet:
        parts.append(quiet)
    return "\n\n".join(parts) or None
