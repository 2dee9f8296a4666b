"""Who joined and who left each segment: membership snapshots and their diff. No Prefect import.

A membership snapshot keeps, per watched segment, the set of its members' contact ids --
ids only, never a contact's fields -- so a watch run can tell who joined and who left since
the last run. It lives beside the segment snapshot as ``<state>/<account-slug>.members.json``
and is written the same way: atomically (``core.atomic``), owner-only when new, with a
format name and version that are checked on reading.

A segment the previous snapshot did not watch is a baseline of its own (no change reported);
a segment no longer watched (or removed) is dropped without a report, as the segment watch
already says when a segment is removed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, StrictStr, ValidationError

from .errors import SnapshotError
from .locations import display_location
from .state_files import StateFile, file_header, require_format

MEMBERSHIP_FORMAT = "prefect-botpenguin/membership-snapshot"
MEMBERSHIP_VERSION = 1
SAMPLE_LIMIT = 20
"""At most this many contact ids of those who joined (and of those who left) go into an event."""


class MembershipSnapshot(BaseModel):
    """The contact ids of each watched segment at ``fetched_at``."""

    model_config = ConfigDict(frozen=True)

    account: str
    fetched_at: AwareDatetime
    segments: dict[StrictStr, frozenset[StrictStr]]

    def to_json_bytes(self) -> bytes:
        """The file's content: metadata, then each segment's ids, sorted (stable diffs)."""
        document: dict[str, Any] = {
            **file_header(MEMBERSHIP_FORMAT, MEMBERSHIP_VERSION, self.account, self.fetched_at),
            "segments": {sid: sorted(ids) for sid, ids in self.segments.items()},
        }
        return (json.dumps(document, ensure_ascii=False, allow_nan=False) + "\n").encode()

    @classmethod
    def from_json_bytes(cls, data: bytes, location: str) -> MembershipSnapshot:
        """Parse a membership snapshot; anything unexpected is a ``SnapshotError``."""
        shown = display_location(location)
        fix = "move it aside to record a new membership baseline"
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise SnapshotError(
                f"Membership snapshot {shown} is not valid UTF-8 JSON; {fix}."
            ) from None
        what = "membership snapshot"
        document = require_format(document, MEMBERSHIP_FORMAT, shown, what, fix)
        if document.get("version") != MEMBERSHIP_VERSION:
            raise SnapshotError(
                f"Membership snapshot {shown} has version {document.get('version')!r}, this "
                f"pack reads {MEMBERSHIP_VERSION}; upgrade prefect-botpenguin or {fix}."
            )
        try:
            return cls.model_validate(
                {key: document.get(key) for key in ("account", "fetched_at", "segments")}
            )
        except ValidationError:
            raise SnapshotError(
                f"Membership snapshot {shown} has invalid content; {fix}."
            ) from None


@dataclass(frozen=True)
class MembershipChange:
    """Who joined and who left one segment (contact ids, sorted), and how many members it has."""

    segment_id: str
    joined: tuple[str, ...]
    left: tuple[str, ...]
    members: int
    name: str | None = None
    """The segment's name when known (not personal data), for messages and event resources."""

    def counts(self) -> dict[str, int]:
        return {"joined": len(self.joined), "left": len(self.left), "members": self.members}

    def payload(self, sample: int = SAMPLE_LIMIT) -> dict[str, Any]:
        """Counts plus at most ``sample`` ids of each side: never whole lists, never contacts."""
        return {
            **self.counts(),
            "joined_sample": list(self.joined[:sample]),
            "left_sample": list(self.left[:sample]),
            "sampled": len(self.joined) > sample or len(self.left) > sample,
        }


def diff_membership(
    previous: Mapping[str, Iterable[str]],
    current: Mapping[str, Iterable[str]],
    names: Mapping[str, str | None] | None = None,
) -> list[MembershipChange]:
    """One change per segment in both mappings whose members differ, in ``current``'s order."""
    changes: list[MembershipChange] = []
    for segment_id, ids in current.items():
        if segment_id not in previous:
            continue  # newly watched: this run is its baseline
        now, before = set(ids), set(previous[segment_id])
        joined, left = sorted(now - before), sorted(before - now)
        if joined or left:
            name = (names or {}).get(segment_id)
            changes.append(MembershipChange(segment_id, tuple(joined), tuple(left), len(now), name))
    return changes


def membership_digest_seed(changes: Iterable[MembershipChange]) -> str:
    """A canonical text of ``changes`` for deterministic event ids."""
    return json.dumps(
        [[c.segment_id, list(c.joined), list(c.left)] for c in changes], separators=(",", ":")
    )


_FILE = StateFile(
    ".members.json", "membership snapshot", MembershipSnapshot.from_json_bytes, previous="one"
)
membership_location = _FILE.location
read_membership = _FILE.read
write_membership = _FILE.write


def new_membership(
    account: str, fetched_at: datetime, segments: Mapping[str, Iterable[str]]
) -> MembershipSnapshot:
    return MembershipSnapshot(
        account=account,
        fetched_at=fetched_at,
        segments={sid: frozenset(ids) for sid, ids in segments.items()},
    )


__all__ = [
    "MEMBERSHIP_FORMAT",
    "MEMBERSHIP_VERSION",
    "SAMPLE_LIMIT",
    "MembershipChange",
    "MembershipSnapshot",
    "diff_membership",
    "membership_location",
    "new_membership",
    "read_membership",
    "write_membership",
]
