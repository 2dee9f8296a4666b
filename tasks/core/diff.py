"""What changed between two fetches of one account: a pure diff and its inverse. No Prefect.

Segments are matched by ``_id`` and compared field by field in their API form
(``Segment.to_api_dict()``), so every field the API sends counts, not only the documented
three. Values are compared as canonical JSON: ``1``, ``1.0`` and ``true`` differ, and key
order inside nested objects does not matter. The order of segments in a fetch is not a change.

``apply_diff(before, diff_segments(before, after))`` rebuilds ``after`` (matched by id), which
is how the tests check that a diff says everything and nothing more.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ChangeDetectionError
from .models import Segment

NAME_FIELD = "segmentName"
ID_FIELD = "_id"


def canonical_json(value: Any) -> str:
    """One spelling per JSON value, so equal data compares equal and ``1 != 1.0 != true``."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class SegmentChange:
    """One segment that exists on both sides but differs in at least one field.

    ``before`` and ``after`` hold only the fields that changed, under their API names. A
    field the segment gained is absent from ``before``; a field it lost is absent from
    ``after`` (so "missing" and ``null`` stay distinct).
    """

    id: str
    name: str | None
    before: Mapping[str, Any]
    after: Mapping[str, Any]

    @property
    def fields(self) -> tuple[str, ...]:
        """The API names of the fields that changed, sorted."""
        return tuple(sorted(set(self.before) | set(self.after)))

    @property
    def renamed(self) -> bool:
        """True when ``segmentName`` is among the changed fields."""
        return NAME_FIELD in self.fields

    @property
    def old_name(self) -> str | None:
        """The name before the change (the current name when not renamed)."""
        if NAME_FIELD in self.before:
            old = self.before[NAME_FIELD]
            return old if isinstance(old, str) else None
        return None if self.renamed else self.name

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as used in event payloads."""
        return {
            "id": self.id,
            "name": self.name,
            "renamed": self.renamed,
            "fields": list(self.fields),
            "before": dict(self.before),
            "after": dict(self.after),
        }


@dataclass(frozen=True)
class SegmentDiff:
    """Created, removed and changed segments between two fetches; empty when nothing changed.

    A rename is a change whose fields include ``segmentName`` (see ``renamed``).
    """

    created: tuple[Segment, ...] = ()
    removed: tuple[Segment, ...] = ()
    changed: tuple[SegmentChange, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.created or self.removed or self.changed)

    @property
    def renamed(self) -> tuple[SegmentChange, ...]:
        """The changes that include a new name (other fields may have changed too)."""
        return tuple(change for change in self.changed if change.renamed)

    @property
    def count(self) -> int:
        """How many segments differ, each counted once."""
        return len(self.created) + len(self.removed) + len(self.changed)

    def counts(self) -> dict[str, int]:
        """Per kind, for summaries; ``renamed`` is part of ``changed``."""
        return {
            "created": len(self.created),
            "removed": len(self.removed),
            "renamed": len(self.renamed),
            "changed": len(self.changed),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: whole segments for created/removed, changed fields otherwise."""
        return {
            "created": [segment.to_api_dict() for segment in self.created],
            "removed": [segment.to_api_dict() for segment in self.removed],
            "changed": [change.to_dict() for change in self.changed],
        }


def _by_id(segments: Iterable[Segment], side: str) -> dict[str, dict[str, Any]]:
    indexed: dict[str, dict[str, Any]] = {}
    for segment in segments:
        if segment.id in indexed:
            raise ChangeDetectionError(
                f"Segment id {segment.id!r} appears twice in the {side} segments, so they "
                "cannot be compared; report this response to BotPenguin support."
            )
        indexed[segment.id] = segment.to_api_dict()
    return indexed


def _field_changes(
    old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key in [*old, *(key for key in new if key not in old)]:
        in_old, in_new = key in old, key in new
        if in_old and in_new and canonical_json(old[key]) == canonical_json(new[key]):
            continue
        if in_old:
            before[key] = old[key]
        if in_new:
            after[key] = new[key]
    return before, after


def diff_segments(before: Sequence[Segment], after: Sequence[Segment]) -> SegmentDiff:
    """Compare two fetches of the same account.

    Created and changed segments keep the order of ``after``; removed ones that of ``before``.
    Raises ``ChangeDetectionError`` if either side holds the same id twice.
    """
    old = _by_id(before, "previous")
    new = _by_id(after, "new")
    created = tuple(segment for segment in after if segment.id not in old)
    removed = tuple(segment for segment in before if segment.id not in new)
    changed: list[SegmentChange] = []
    for segment in after:
        if segment.id not in old:
            continue
        fields_before, fields_after = _field_changes(old[segment.id], new[segment.id])
        if fields_before or fields_after:
            changed.append(SegmentChange(segment.id, segment.name, fields_before, fields_after))
    return SegmentDiff(created=created, removed=removed, changed=tuple(changed))


def apply_diff(before: Sequence[Segment], diff: SegmentDiff) -> list[Segment]:
    """Replay ``diff`` on ``before``: kept segments in their old order, then created ones.

    Raises ``ChangeDetectionError`` when the diff was not made from these segments.
    """
    records = _by_id(before, "previous")
    for segment in diff.removed:
        if records.pop(segment.id, None) is None:
            raise ChangeDetectionError(
                f"The diff removes segment {segment.id!r}, which the base does not hold."
            )
    for change in diff.changed:
        record = records.get(change.id)
        if record is None:
            raise ChangeDetectionError(
                f"The diff changes segment {change.id!r}, which the base does not hold."
            )
        for key in change.fields:
            if key in change.after:
                record[key] = change.after[key]
            else:
                record.pop(key, None)
    for segment in diff.created:
        if segment.id in records:
            raise ChangeDetectionError(
                f"The diff creates segment {segment.id!r}, which the base already holds."
            )
        records[segment.id] = segment.to_api_dict()
    return [Segment.from_api(record) for record in records.values()]
