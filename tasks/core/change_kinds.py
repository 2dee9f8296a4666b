"""What kind of change a field change is, and whether a diff is worth a message. No Prefect.

The rules are one table (``KIND_FIELDS``): the fields that count as a segment's *size* and
those that are *bookkeeping*; every other field, the name and the filters included, is
*definition*. Deployments add fields with ``BOTPENGUIN_SIZE_FIELDS`` and
``BOTPENGUIN_BOOKKEEPING_FIELDS`` (comma-separated or a JSON list).

What notifies: creations, removals, definition changes, and size moves past the
``SizeThreshold``. Bookkeeping alone never does; a smaller size move is recorded in the
history, not announced.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode

from .diff import SegmentChange, SegmentDiff
from .errors import ConfigurationError
from .settings import env_config
from .thresholds import Resize, SizeThreshold, resized


class ChangeKind(StrEnum):
    """The three kinds of field change, as carried by events and the change artifact."""

    DEFINITION = "definition"
    SIZE = "size"
    BOOKKEEPING = "bookkeeping"


KIND_FIELDS: Mapping[ChangeKind, tuple[str, ...]] = {
    # In order of precedence: when several count fields are sent, the first one is the size.
    ChangeKind.SIZE: ("contactCount", "contactsCount", "totalContacts"),
    # Timestamps that tick whenever BotPenguin recomputes an audience.
    ChangeKind.BOOKKEEPING: ("updatedAt", "lastUpdated", "modifiedAt", "lastSyncedAt"),
}
"""Field -> kind, stated once; a field in neither list is a definition field."""


def _split(value: Any) -> Any:
    """``a, b`` or ``["a", "b"]`` from the environment as a list of names."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class ChangeKindSettings(BaseSettings):
    """Extra size and bookkeeping fields (env prefix ``BOTPENGUIN_``)."""

    model_config = env_config()

    size_fields: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="More contact-count fields, after the built-in ones (comma-separated).",
    )
    bookkeeping_fields: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="More timestamp-like fields that never notify on their own (comma-separated).",
    )

    @field_validator("size_fields", "bookkeeping_fields", mode="before")
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        return _split(value)


@dataclass(frozen=True)
class ChangeKindRules:
    """``KIND_FIELDS`` plus a deployment's extra fields; ``kind_of`` answers per field."""

    size_fields: tuple[str, ...] = KIND_FIELDS[ChangeKind.SIZE]
    bookkeeping_fields: tuple[str, ...] = KIND_FIELDS[ChangeKind.BOOKKEEPING]

    @classmethod
    def with_extras(
        cls, size: Iterable[str] = (), bookkeeping: Iterable[str] = ()
    ) -> ChangeKindRules:
        """The built-in table extended (built-in fields first, so they keep precedence)."""
        sizes = dict.fromkeys([*KIND_FIELDS[ChangeKind.SIZE], *size])
        stamps = dict.fromkeys([*KIND_FIELDS[ChangeKind.BOOKKEEPING], *bookkeeping])
        overlap = sorted(set(sizes) & set(stamps))
        if overlap:
            raise ConfigurationError(
                f"Field(s) {', '.join(overlap)} cannot be both size and bookkeeping fields; "
                "remove them from BOTPENGUIN_SIZE_FIELDS or BOTPENGUIN_BOOKKEEPING_FIELDS."
            )
        return cls(size_fields=tuple(sizes), bookkeeping_fields=tuple(stamps))

    def kind_of(self, field: str) -> ChangeKind:
        """The kind of a change to ``field`` (definition unless the table says otherwise)."""
        if field in self.size_fields:
            return ChangeKind.SIZE
        if field in self.bookkeeping_fields:
            return ChangeKind.BOOKKEEPING
        return ChangeKind.DEFINITION


def load_change_kind_rules() -> ChangeKindRules:
    """The rules with ``BOTPENGUIN_SIZE_FIELDS`` / ``_BOOKKEEPING_FIELDS``, or one error line."""
    try:
        settings = ChangeKindSettings()
    except (ValidationError, ValueError) as exc:
        reason = str(exc).splitlines()[0]
        raise ConfigurationError(
            f"Invalid BOTPENGUIN_SIZE_FIELDS or BOTPENGUIN_BOOKKEEPING_FIELDS ({reason}); give "
            "field names separated by commas."
        ) from None
    return ChangeKindRules.with_extras(settings.size_fields, settings.bookkeeping_fields)


def count_of(fields: Mapping[str, Any], rules: ChangeKindRules) -> int | None:
    """The size a segment's fields state: the first size field holding a whole number >= 0."""
    for name in rules.size_fields:
        value = fields.get(name)
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and value >= 0:
            return value
        if isinstance(value, float) and value.is_integer() and value >= 0:
            return int(value)
    return None


@dataclass(frozen=True)
class ClassifiedChange:
    """One ``SegmentChange`` with its fields grouped by kind and its size move, if past the bar."""

    change: SegmentChange
    fields: Mapping[ChangeKind, tuple[str, ...]]
    """Kind -> changed field names; only kinds with at least one field are present."""
    resize: Resize | None

    @property
    def kinds(self) -> tuple[ChangeKind, ...]:
        """The kinds present, in ``ChangeKind`` order."""
        return tuple(kind for kind in ChangeKind if kind in self.fields)

    @property
    def notifies(self) -> bool:
        """A definition change, or a size move past the threshold."""
        return ChangeKind.DEFINITION in self.fields or self.resize is not None

    def to_dict(self) -> dict[str, Any]:
        """``SegmentChange.to_dict()`` plus ``kinds`` and ``resize``, for events and artifacts."""
        return {
            **self.change.to_dict(),
            "kinds": [kind.value for kind in self.kinds],
            "resize": self.resize.to_dict() if self.resize else None,
        }


def classify_change(
    change: SegmentChange,
    rules: ChangeKindRules,
    threshold: SizeThreshold,
    sizes: tuple[int | None, int | None] | None = None,
) -> ClassifiedChange:
    """Group ``change``'s fields by kind and test its size move against ``threshold``.

    ``sizes`` (previous, current) are the segment's whole sizes when the caller knows them
    (``sizes_from_segments`` of both fetches); without them the size is read from the changed
    fields alone, the first count field that changed on both sides.
    """
    grouped: dict[ChangeKind, list[str]] = {}
    for name in change.fields:
        grouped.setdefault(rules.kind_of(name), []).append(name)
    fields = {kind: tuple(grouped[kind]) for kind in ChangeKind if kind in grouped}
    resize = None
    if ChangeKind.SIZE in fields:
        before, after = sizes or (count_of(change.before, rules), count_of(change.after, rules))
        resize = resized(before, after, threshold)
    return ClassifiedChange(change=change, fields=fields, resize=resize)


@dataclass(frozen=True)
class ClassifiedDiff:
    """A ``SegmentDiff`` with every change classified; ``notifies`` says if it is news."""

    diff: SegmentDiff
    changes: tuple[ClassifiedChange, ...]

    @property
    def notifies(self) -> bool:
        """Creations, removals, definition changes or a resize: worth a message."""
        return bool(self.diff.created or self.diff.removed) or any(
            change.notifies for change in self.changes
        )

    @property
    def resized(self) -> tuple[ClassifiedChange, ...]:
        """The changes whose size moved past the threshold (one resized event each)."""
        return tuple(change for change in self.changes if change.resize is not None)

    @property
    def quiet(self) -> tuple[ClassifiedChange, ...]:
        """Changes recorded but not announced: bookkeeping or a size move below the bar."""
        return tuple(change for change in self.changes if not change.notifies)


def classify_diff(
    diff: SegmentDiff,
    rules: ChangeKindRules,
    threshold: SizeThreshold,
    before: Mapping[str, int | None] | None = None,
    after: Mapping[str, int | None] | None = None,
) -> ClassifiedDiff:
    """Every change of ``diff`` classified with ``classify_change``, in the diff's order.

    ``before`` and ``after`` map segment id -> size for both fetches (``sizes_from_segments``);
    given, they decide the size moves, so a count field that did not change still counts.
    """
    changes = []
    for change in diff.changed:
        sizes = None
        if before is not None and after is not None:
            sizes = (before.get(change.id), after.get(change.id))
        changes.append(classify_change(change, rules, threshold, sizes))
    return ClassifiedDiff(diff=diff, changes=tuple(changes))
