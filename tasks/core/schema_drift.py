"""Schema drift: fields that appear in or vanish from every segment, or change JSON type.

The schema of a fetch is the fields present in *every* segment, each with its JSON type, plus
the names present in *any* segment. A field has appeared when every segment now has it and
none had it before; it has disappeared when every segment had it and none has it now. Both
sides are needed: a brand-new segment that lacks optional fields shrinks the "every segment"
set without any field leaving the API, and removing such a segment grows it. The watch keeps
the last schema in the account's state and compares each fetch with it, so a drift is
reported on the run that sees it and, the stored schema then being the new one, never again.
Only field names and type names leave this module, never values. No Prefect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .models import Segment

MIXED = "mixed"
"""The type of a field whose non-null values differ in type between segments."""


_JSON_TYPES = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string"}


def json_type(value: Any) -> str:
    """The JSON type name of a parsed JSON value (``integer`` apart from ``number``).

    By exact type, which is all ``json.loads`` makes (and faster than an ``isinstance``
    ladder, which would also have to test ``bool`` before ``int``).
    """
    return _JSON_TYPES.get(type(value)) or ("array" if isinstance(value, list) else "object")


@dataclass(frozen=True)
class SegmentSchema:
    """Field -> JSON type for the fields every segment of a fetch has.

    A field null in some segments takes the type of its other values; null everywhere, it is
    ``null``; of several non-null types, ``mixed``.
    """

    fields: Mapping[str, str] = field(default_factory=dict)
    present: frozenset[str] | None = None
    """Fields at least one segment has (None: only ``fields`` are known, as in older files)."""

    @property
    def seen(self) -> frozenset[str]:
        """Fields at least one segment has (``fields`` when ``present`` was not recorded)."""
        return self.present if self.present is not None else frozenset(self.fields)

    def to_dict(self) -> dict[str, Any]:
        """The stored form, kept in the account's state."""
        return {"fields": dict(sorted(self.fields.items())), "present": sorted(self.seen)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SegmentSchema:
        """Read ``to_dict``'s form back; ``ValueError`` when it is not that."""
        fields = data.get("fields")
        if not isinstance(fields, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
        ):
            raise ValueError("a schema holds a 'fields' object of field name -> type name")
        present = data.get("present")
        if present is not None and not (
            isinstance(present, list) and all(isinstance(name, str) for name in present)
        ):
            raise ValueError("a schema's 'present' is a list of field names")
        return cls(fields=dict(fields), present=None if present is None else frozenset(present))


def schema_of(segments: Iterable[Segment]) -> SegmentSchema | None:
    """The schema of one fetch; None for no segments (no field is in every one of none)."""
    common: dict[str, set[str]] | None = None
    present: set[str] = set()
    for segment in segments:
        record = segment.to_api_dict()
        present.update(record)
        if common is None:
            common = {name: {json_type(value)} for name, value in record.items()}
            continue
        for name in [name for name in common if name not in record]:
            del common[name]
        for name, types in common.items():
            types.add(json_type(record[name]))
    if common is None:
        return None
    return SegmentSchema(
        fields={name: _one_type(types) for name, types in common.items()},
        present=frozenset(present),
    )


def _one_type(types: set[str]) -> str:
    concrete = types - {"null"}
    if not concrete:
        return "null"
    return next(iter(concrete)) if len(concrete) == 1 else MIXED


@dataclass(frozen=True)
class SchemaDrift:
    """Field names that appeared, disappeared or changed type; empty (falsy) when none did."""

    appeared: tuple[str, ...] = ()
    disappeared: tuple[str, ...] = ()
    retyped: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.appeared or self.disappeared or self.retyped)

    def to_dict(self) -> dict[str, list[str]]:
        """The ``botpenguin.segments.schema-changed`` payload: names only, never values."""
        return {
            "appeared": list(self.appeared),
            "disappeared": list(self.disappeared),
            "retyped": list(self.retyped),
        }


def schema_drift(before: SegmentSchema | None, after: SegmentSchema | None) -> SchemaDrift:
    """What changed from the stored schema to this fetch's; nothing when either is unknown.

    A first run (no stored schema) and an empty fetch (no schema) are not drift. Appeared:
    in every segment now, in none before; disappeared: in every segment before, in none now
    (see the module docstring for why). A type change counts only between two definite
    types: a field null everywhere that starts to be filled, or one that becomes ``mixed``
    from null, is not one.
    """
    if before is None or after is None:
        return SchemaDrift()
    old, new = before.fields, after.fields
    retyped = (
        name
        for name in old
        if name in new and old[name] != new[name] and "null" not in (old[name], new[name])
    )
    return SchemaDrift(
        appeared=tuple(sorted(set(new) - before.seen)),
        disappeared=tuple(sorted(set(old) - after.seen)),
        retyped=tuple(sorted(retyped)),
    )
