"""Words for people about a diff: a notification message and a markdown artifact.

Both name every created, removed, renamed and changed segment with old and new values, capped
so a large change stays readable (the events carry everything).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from prefect.artifacts import acreate_markdown_artifact

from ._dispatch import dual_task
from .core.accounts import account_slug
from .core.change_kinds import ChangeKindRules
from .core.diff import NAME_FIELD, SegmentChange, SegmentDiff, canonical_json
from .core.markdown import cell
from .core.membership_diff import MembershipChange
from .core.models import Segment

MESSAGE_LIST_LIMIT = 20
MESSAGE_FIELD_LIMIT = 5
ARTIFACT_ROW_LIMIT = 200
VALUE_WIDTH = 60
T = TypeVar("T")


def changes_artifact_key(account: str) -> str:
    """The stable key of an account's change summary, one version per run."""
    return f"botpenguin-changes-{account_slug(account)}"


@dataclass(frozen=True)
class ChangeMessage:
    """A notification's subject and plain-text body."""

    subject: str
    body: str


def _one_line(text: str | None) -> str:
    return " ".join((text or "(unnamed)").split())


def _value(value: Any, width: int = VALUE_WIDTH) -> str:
    shown = canonical_json(value)
    return shown if len(shown) <= width else shown[: width - 1] + "…"


def _field_changes(change: SegmentChange, skip: str | None = None) -> Iterator[str]:
    for key in change.fields:
        if key == skip:
            continue
        old = _value(change.before[key]) if key in change.before else "(absent)"
        new = _value(change.after[key]) if key in change.after else "(absent)"
        yield f"{key}: {old} -> {new}"


def _change_line(change: SegmentChange) -> str:
    if change.renamed:
        head = f'"{_one_line(change.old_name)}" -> "{_one_line(change.name)}" [{change.id}]'
    else:
        head = f'"{_one_line(change.name)}" [{change.id}]'
    details = list(_field_changes(change, skip=NAME_FIELD if change.renamed else None))
    if len(details) > MESSAGE_FIELD_LIMIT:
        more = len(details) - MESSAGE_FIELD_LIMIT
        details = [*details[:MESSAGE_FIELD_LIMIT], f"and {more} more field(s)"]
    return f"{head}: {'; '.join(details)}" if details else head


def _section(title: str, lines: list[str]) -> list[str]:
    if not lines:
        return []
    shown = [f"  {line}" for line in lines[:MESSAGE_LIST_LIMIT]]
    if len(lines) > MESSAGE_LIST_LIMIT:
        shown.append(f"  ... and {len(lines) - MESSAGE_LIST_LIMIT} more")
    return [f"{title} ({len(lines)}):", *shown]


def summary_counts(diff: SegmentDiff) -> str:
    """``1 created, 2 removed, 1 renamed, 3 changed`` (zeros left out)."""
    counts = diff.counts()
    counts["changed"] -= counts["renamed"]  # say each segment once
    return ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "no changes"


def describe_changes(
    diff: SegmentDiff | None,
    account: str,
    *,
    segment_count: int,
    previous_fetched_at: datetime | None = None,
    members: Sequence[MembershipChange] | None = None,
) -> ChangeMessage:
    """Readable text naming every created, removed, renamed and changed segment (capped).

    ``diff=None`` means there was no snapshot yet: the run recorded a baseline. ``members``
    adds who joined and left watched segments, as counts per segment.
    """
    if members:
        message = describe_changes(
            diff, account, segment_count=segment_count, previous_fetched_at=previous_fetched_at
        )
        counts = members_summary(members)
        subject = message.subject if diff else f"BotPenguin {account}: {counts}"
        if diff:
            subject += f"; {counts}"
        return ChangeMessage(subject, "\n".join([message.body, "", *members_section(members)]))
    if diff is None:
        return ChangeMessage(
            subject=f"BotPenguin {account}: baseline recorded ({segment_count} segments)",
            body=(
                f'Account "{account}": no earlier snapshot, so this run recorded a baseline of '
                f"{segment_count} segment(s). Changes are reported from the next run on."
            ),
        )
    since = f" since {_when(previous_fetched_at)}" if previous_fetched_at else ""
    if not diff:
        return ChangeMessage(
            subject=f"BotPenguin {account}: no segment changes",
            body=f'Account "{account}": no segment changed{since} ({segment_count} segments).',
        )
    lines = [f'Account "{account}": {summary_counts(diff)}{since}.', "", *change_sections(diff)]
    return ChangeMessage(
        subject=f"BotPenguin {account}: {summary_counts(diff)}", body="\n".join(lines)
    )


def change_sections(diff: SegmentDiff) -> list[str]:
    """The message's Created, Removed, Renamed and Changed sections (capped), as lines."""
    plain = [c for c in diff.changed if not c.renamed]
    lines = _section("Created", [f'+ "{_one_line(s.name)}" [{s.id}]' for s in diff.created])
    lines += _section("Removed", [f'- "{_one_line(s.name)}" [{s.id}]' for s in diff.removed])
    lines += _section("Renamed", [f"~ {_change_line(c)}" for c in diff.renamed])
    lines += _section("Changed", [f"~ {_change_line(c)}" for c in plain])
    return lines


def members_summary(members: Sequence[MembershipChange]) -> str:
    """``members changed in 2 segment(s): 5 joined, 1 left``."""
    joined = sum(len(c.joined) for c in members)
    left = sum(len(c.left) for c in members)
    return f"members changed in {len(members)} segment(s): {joined} joined, {left} left"


def members_section(members: Sequence[MembershipChange]) -> list[str]:
    """The message's Members section: counts per segment (contacts are personal data, so
    none is named here)."""
    return _section(
        "Members",
        [
            f'"{_one_line(c.name)}" [{c.segment_id}]: +{len(c.joined)} joined, '
            f"-{len(c.left)} left, {c.members} now"
            for c in members
        ],
    )


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _code(value: Any) -> str:
    text = cell(_value(value)).replace("`", "'")
    return f"`{text}`"


def changes_markdown(
    diff: SegmentDiff | None,
    account: str,
    *,
    segment_count: int,
    previous_fetched_at: datetime | None = None,
    fetched_at: datetime | None = None,
    members: Sequence[MembershipChange] | None = None,
    kinds: ChangeKindRules | None = None,
    notes: str | None = None,
    trend: str = "",
) -> str:
    """The artifact: a headline, then a table per kind of change with old and new values.

    Each changed field names its kind (``kinds``: the watch's rules, else the built-in ones).
    ``notes`` (markdown, e.g. the resizes) follow the tables; ``trend``
    (``history_artifacts.trend_table``) ends it with each segment's size trend. ``members``
    adds a table of joined/left/member counts per watched segment (no contacts).
    """
    text = _changes_markdown(
        diff, account, segment_count, previous_fetched_at, fetched_at, kinds or ChangeKindRules()
    )
    for section in (notes, trend):
        if section:
            text = f"{text}\n\n{section}"
    if not members:
        return text
    lines = [text, "", f"## Members ({members_summary(members)})", ""]
    head = ["| Segment | ID | Joined | Left | Members |", "|---|---|---:|---:|---:|"]
    lines += capped_table(head, members, _member_row, ARTIFACT_ROW_LIMIT, "the events")
    return "\n".join(lines)


def _member_row(change: MembershipChange) -> str:
    return (
        f"| {cell(_one_line(change.name))} | `{change.segment_id}` | {len(change.joined)} "
        f"| {len(change.left)} | {change.members} |"
    )


def capped_table(
    head: list[str], items: Sequence[T], row: Callable[[T], str], limit: int, see: str
) -> list[str]:
    """A markdown table's lines: ``head``, a ``row`` for each of the first ``limit`` items,
    then a line counting the rest and where to ``see`` them, so an artifact stays small."""
    lines = [*head, *(row(item) for item in items[:limit])]
    if len(items) > limit:
        lines.append(f"\n... and {len(items) - limit} more; see {see}.")
    return lines


def _changes_markdown(
    diff: SegmentDiff | None,
    account: str,
    segment_count: int,
    previous_fetched_at: datetime | None,
    fetched_at: datetime | None,
    kinds: ChangeKindRules,
) -> str:
    fetched = _when(fetched_at or datetime.now(UTC))
    lines = [f"# BotPenguin segment changes: {cell(account)}", ""]
    if diff is None:
        lines.append(
            f"**Baseline recorded**: {segment_count} segment(s) fetched at {fetched}. "
            "Changes are reported from the next run on."
        )
        return "\n".join(lines)
    since = _when(previous_fetched_at) if previous_fetched_at else "the previous snapshot"
    lines.append(
        f"Fetch at {fetched} compared with the snapshot of {since}: "
        f"**{summary_counts(diff)}** ({segment_count} segments now)."
    )
    rows = 0

    def table(title: str, header: list[str], body: list[list[str]]) -> None:
        nonlocal rows
        if not body:
            return
        lines.extend(["", f"## {title} ({len(body)})", ""])
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        room = max(ARTIFACT_ROW_LIMIT - rows, 0)
        lines.extend("| " + " | ".join(row) + " |" for row in body[:room])
        rows += min(len(body), room)
        if len(body) > room:
            lines.append(f"\n... and {len(body) - room} more row(s); see the change events.")

    def named(segments: tuple[Segment, ...]) -> list[list[str]]:
        return [[cell(_one_line(s.name)), f"`{s.id}`"] for s in segments]

    table("Created", ["Name", "ID"], named(diff.created))
    table("Removed", ["Name", "ID"], named(diff.removed))
    table(
        "Renamed",
        ["Old name", "New name", "ID"],
        [[cell(_one_line(c.old_name)), cell(_one_line(c.name)), f"`{c.id}`"] for c in diff.renamed],
    )
    table(
        "Changed fields",
        ["Segment", "Field", "Before", "After", "Kind"],
        [
            [
                cell(_one_line(c.name)),
                f"`{key}`",
                _code(c.before[key]) if key in c.before else "(absent)",
                _code(c.after[key]) if key in c.after else "(absent)",
                kinds.kind_of(key).value,
            ]
            for c in diff.changed
            for key in c.fields
            if key != NAME_FIELD  # renames have their own table
        ],
    )
    return "\n".join(lines)


async def _publish_changes_artifact(
    diff: SegmentDiff | None,
    account: str,
    segment_count: int,
    previous_fetched_at: datetime | None = None,
    fetched_at: datetime | None = None,
    members: list[MembershipChange] | None = None,
    kinds: ChangeKindRules | None = None,
    notes: str | None = None,
    trend: str = "",
) -> str:
    """Record a markdown summary of the diff under ``botpenguin-changes-<account>``.

    Args:
        diff: What changed; None when this run recorded the baseline.
        account: The account's label, part of the artifact key.
        segment_count: How many segments the account has now.
        previous_fetched_at: When the compared snapshot was taken.
        fetched_at: When the new segments were fetched.
        members: Who joined and left watched segments; shown as counts per segment.
        kinds: Which fields are size and bookkeeping, to name each changed field's kind
            (None: the built-in table).
        notes: Markdown shown after the tables (the watch adds its resizes and schema drift).
        trend: A "Size trend" markdown section to show too (the watch passes
            ``history_artifacts.trend_table`` of the account's size history).

    Returns:
        The artifact's key.

    Example:
        Summarise what changed since the last snapshot:
        ```python
        from prefect import flow
        from prefect_botpenguin import (
            diff_segments, fetch_segments, load_segments_snapshot, publish_changes_artifact,
        )

        @flow
        def summarise() -> str:
            previous = load_segments_snapshot("larkspur", state="snapshots")
            current = fetch_segments()
            diff = diff_segments(previous.segments, current) if previous else None
            return publish_changes_artifact(diff, "larkspur", segment_count=len(current))

        if __name__ == "__main__":
            print(summarise())
        ```
    """
    key = changes_artifact_key(account)
    markdown = changes_markdown(
        diff,
        account,
        segment_count=segment_count,
        previous_fetched_at=previous_fetched_at,
        fetched_at=fetched_at,
        members=members,
        kinds=kinds,
        notes=notes,
        trend=trend,
    )
    outcome = "baseline" if diff is None else summary_counts(diff)
    if members:
        outcome += f"; {members_summary(members)}"
    await acreate_markdown_artifact(
        markdown,
        key=key,
        description=f"Segment changes of BotPenguin account {account!r}: {outcome}.",
    )
    return key


apublish_changes_artifact, publish_changes_artifact = dual_task(
    _publish_changes_artifact, name="publish-botpenguin-changes-artifact"
)
