"""Snapshots: the last fetch of each account, kept so the next run can tell what changed.

One JSON file per account, ``<state>/<account-slug>.json``, where ``state`` is a local
directory or an fsspec URL (``memory://``, ``s3://bucket/prefix``, ... when that back-end is
installed). The file records the account's label; a run for another label that maps to the
same file is refused. Writes are atomic so a failed run leaves the previous snapshot
byte-identical (``.state_files`` says how, per kind of storage).

Version 2 of the format also keeps the watch's own state with the segments, in the same write:
change messages not yet delivered to every target (the outbox) and how many consecutive runs
have seen a suspicious drop. Version 1 files are read as having neither.

A snapshot that cannot be trusted -- truncated, corrupted, of another account, of a newer
format -- is an error naming the file and the way out (``--reset-state`` / ``reset_state``),
never a silent new baseline, which would hide every change made since.

Why in the core: the model and its file are plain data, read by the watch's decisions and
by the Prefect tasks in ``prefect_botpenguin.snapshots`` alike. Never imports Prefect.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from .errors import SnapshotError
from .jsontext import read_json
from .locations import display_location, open_fsspec
from .models import SegmentTuple
from .state_files import StateFile, file_header, require_format
from .watch_state import PendingMessage

DEFAULT_STATE_DIR = ".botpenguin/snapshots"
"""Where ``segments_watch`` keeps snapshots unless told otherwise (relative to the cwd)."""

SNAPSHOT_FORMAT = "prefect-botpenguin/segments-snapshot"
SNAPSHOT_VERSION = 2
READABLE_VERSIONS = (1, 2)
RESET_HINT = (
    "run the watch once with --reset-state (flow parameter reset_state=True) to record a "
    "new baseline on purpose, or move the file aside"
)


class Snapshot(BaseModel):
    """One account's segments as fetched at ``fetched_at``, every API field kept."""

    model_config = ConfigDict(frozen=True)

    account: str
    fetched_at: AwareDatetime
    source: str | None = None
    segments: SegmentTuple
    pending: tuple[PendingMessage, ...] = ()
    """Change messages some target has not accepted yet, oldest first (the outbox)."""
    held_drops: int = 0
    """Consecutive runs that fetched a suspicious drop, held instead of reported."""

    def to_json_bytes(self) -> bytes:
        """The file's content: metadata, then ``Segment.to_api_dict()`` of each segment."""
        document: dict[str, Any] = {
            **file_header(SNAPSHOT_FORMAT, SNAPSHOT_VERSION, self.account, self.fetched_at),
            "source": self.source,
            "segment_count": len(self.segments),
            "held_drops": self.held_drops,
            "pending": [message.model_dump(mode="json") for message in self.pending],
            "segments": [segment.to_api_dict() for segment in self.segments],
        }
        text = json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False)
        return (text + "\n").encode("utf-8")

    @classmethod
    def from_json_bytes(cls, data: bytes, location: str) -> Snapshot:
        """Parse a snapshot file; anything unexpected is a ``SnapshotError`` naming the file."""
        shown = display_location(location)
        try:
            document = read_json(data)[0]  # the API client's rule: U+FFFD and null
        except ValueError:
            raise SnapshotError(
                f"Snapshot {shown} is truncated or corrupted (not valid UTF-8 JSON), so changes "
                f"cannot be told from it; {RESET_HINT}."
            ) from None
        document = require_format(document, SNAPSHOT_FORMAT, shown, "snapshot", RESET_HINT)
        version = document.get("version")
        if isinstance(version, int) and version > SNAPSHOT_VERSION:
            raise SnapshotError(
                f"Snapshot {shown} was written by a newer prefect-botpenguin (format version "
                f"{version}, this one reads up to {SNAPSHOT_VERSION}); upgrade prefect-botpenguin "
                f"here, or {RESET_HINT}."
            )
        if version not in READABLE_VERSIONS:
            raise SnapshotError(
                f"Snapshot {shown} has an unknown format version {version!r}; {RESET_HINT}."
            )
        keys = ("account", "fetched_at", "source", "segments", "pending", "held_drops")
        fields = {key: document[key] for key in keys if key in document}
        try:
            snapshot = cls.model_validate(fields)
        except ValidationError as exc:
            where = ", ".join(
                sorted({".".join(str(p) for p in e["loc"][:2]) for e in exc.errors()})
            )
            raise SnapshotError(
                f"Snapshot {shown} is corrupted (invalid {where or 'content'}); {RESET_HINT}."
            ) from None
        count = document.get("segment_count", len(snapshot.segments))
        if count != len(snapshot.segments):
            raise SnapshotError(
                f"Snapshot {shown} is corrupted: it says {count!r} "
                f"segments but holds {len(snapshot.segments)}; {RESET_HINT}."
            )
        return snapshot


def check_snapshot_account(snapshot: Snapshot, account: str, location: str) -> None:
    """Refuse a snapshot another account's label recorded: its changes are not this account's.

    Labels that differ only in case or punctuation share a file name (``account_slug``);
    comparing them would report the other account's segments as created and removed.
    """
    recorded = unicodedata.normalize("NFC", snapshot.account)
    if recorded != unicodedata.normalize("NFC", account):
        raise SnapshotError(
            f"Snapshot {display_location(location)} was recorded for account {recorded!r}, "
            f"not {account!r}; two labels share that file name. Give this account a label that "
            "differs in more than case and punctuation, or use another state location "
            f"(the snapshot is left as it is), or {RESET_HINT}."
        )


def local_state_directory(state: str) -> Path | None:
    """The directory of a local ``state`` location (path or ``file://``), else None."""
    from fsspec.implementations.local import LocalFileSystem

    fs, path = open_fsspec(state, SnapshotError, "open state location")
    return Path(path) if isinstance(fs, LocalFileSystem) else None


_FILE = StateFile(".json", "snapshot", Snapshot.from_json_bytes)
snapshot_location = _FILE.location
read_snapshot = _FILE.read
write_snapshot = _FILE.write


__all__ = [
    "DEFAULT_STATE_DIR",
    "READABLE_VERSIONS",
    "RESET_HINT",
    "SNAPSHOT_FORMAT",
    "SNAPSHOT_VERSION",
    "Snapshot",
    "check_snapshot_account",
    "local_state_directory",
    "read_snapshot",
    "snapshot_location",
    "write_snapshot",
]
