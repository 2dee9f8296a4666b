"""Snapshots: the last fetch of each account, kept so the next run can tell what changed.

One JSON file per account, ``<state>/<account-slug>.json``, where ``state`` is a local
directory or an fsspec URL (``memory://``, ``s3://bucket/prefix``, ... when that back-end is
installed). The file records the account's label; a run for another label that maps to the
same file is refused. Writes are atomic so a failed run leaves the previous snapshot byte-identical:
locally a temporary file in the same directory is renamed over the old one; on object stores
the snapshot is one single-object PUT, which readers see entirely or not at all; on other
fsspec back-ends a temporary object is written and then moved into place.

Version 2 of the format also keeps the watch's own state with the segments, in the same write:
change messages not yet delivered to every target (the outbox) and how many consecutive runs
have seen a suspicious drop. Version 1 files are read as having neither.

A snapshot that cannot be trusted -- truncated, corrupted, of another account, of a newer
format -- is an error naming the file and the way out (``--reset-state`` / ``reset_state``),
never a silent new baseline, which would hide every change made since.
"""

from __future__ import annotations

import asyncio
import json
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.cache_policies import NO_CACHE
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from ._dispatch import dual_task
from .core.accounts import account_slug
from .core.atomic import replace_fsspec_file, replace_local_file
from .core.errors import SnapshotError
from .core.jsontext import read_json
from .core.locations import display_location, open_fsspec
from .core.models import Segment, SegmentTuple
from .core.watch_state import PendingMessage

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
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "account": self.account,
            "fetched_at": self.fetched_at.isoformat(),
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
        if not isinstance(document, dict) or document.get("format") != SNAPSHOT_FORMAT:
            raise SnapshotError(
                f"{shown} is not a prefect-botpenguin snapshot; choose another state location "
                f"or {RESET_HINT}."
            )
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


def snapshot_location(state: str, account: str) -> str:
    """The file that holds ``account``'s snapshot inside the ``state`` directory or URL."""
    return f"{state.rstrip('/')}/{account_slug(account)}.json"


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


def _filesystem(location: str) -> tuple[Any, str]:
    """fsspec's filesystem and path for ``location``, or a ``SnapshotError`` saying why not."""
    return open_fsspec(location, SnapshotError, "open state location")


def local_state_directory(state: str) -> Path | None:
    """The directory of a local ``state`` location (path or ``file://``), else None."""
    from fsspec.implementations.local import LocalFileSystem

    fs, path = _filesystem(state)
    return Path(path) if isinstance(fs, LocalFileSystem) else None


def read_snapshot(location: str) -> Snapshot | None:
    """The snapshot at ``location``, or None when there is none yet (the first run)."""
    fs, path = _filesystem(location)
    try:
        data = fs.cat_file(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SnapshotError(
            f"Cannot read snapshot {display_location(location)} ({type(exc).__name__}); "
            "check the state location and its permissions."
        ) from None
    return Snapshot.from_json_bytes(data, location)


def write_snapshot(snapshot: Snapshot, location: str) -> None:
    """Write ``snapshot`` to ``location`` atomically (see the module docstring)."""
    from fsspec.implementations.local import LocalFileSystem

    data = snapshot.to_json_bytes()  # serialise first: a failure here touches nothing
    fs, path = _filesystem(location)
    try:
        if isinstance(fs, LocalFileSystem):
            replace_local_file(Path(path), data, private=True)
        else:
            replace_fsspec_file(fs, path, data)
    except OSError as exc:
        raise SnapshotError(
            f"Cannot write snapshot {display_location(location)} ({type(exc).__name__}: "
            f"{getattr(exc, 'strerror', None) or 'write failed'}); the previous snapshot is "
            "unchanged. Check the state location and its permissions."
        ) from None


async def _load_segments_snapshot(account: str, state: str = DEFAULT_STATE_DIR) -> Snapshot | None:
    """Load the last snapshot of an account, or None on its first run.

    Args:
        account: The account's label; the file is ``<state>/<account-slug>.json``.
        state: Directory (local path or fsspec URL) that holds one snapshot per account.

    Returns:
        The previous snapshot, or None when none was recorded yet.

    Example:
        Tell whether an account has a baseline:
        ```python
        from prefect import flow
        from prefect_botpenguin import load_segments_snapshot

        @flow
        def has_baseline() -> bool:
            snapshot = load_segments_snapshot("larkspur", state="snapshots")
            return snapshot is not None

        if __name__ == "__main__":
            print(has_baseline())
        ```
    """
    location = snapshot_location(state, account)
    snapshot = await asyncio.to_thread(read_snapshot, location)
    if snapshot is not None:
        check_snapshot_account(snapshot, account, location)
    logger = get_run_logger()
    if snapshot is None:
        logger.info(
            "No snapshot at %s yet: this run records the baseline", display_location(location)
        )
    else:
        logger.info(
            "Loaded snapshot of %d segment(s) fetched at %s from %s",
            len(snapshot.segments),
            snapshot.fetched_at.isoformat(),
            display_location(location),
        )
    return snapshot


aload_segments_snapshot, load_segments_snapshot = dual_task(
    _load_segments_snapshot,
    name="load-botpenguin-snapshot",
    tags=["botpenguin"],
    cache_policy=NO_CACHE,
)


async def _save_segments_snapshot(
    segments: list[Segment],
    account: str,
    state: str = DEFAULT_STATE_DIR,
    fetched_at: datetime | None = None,
    source: str | None = None,
    pending: list[PendingMessage] | None = None,
    held_drops: int = 0,
) -> str:
    """Save an account's segments as its new snapshot, atomically.

    Args:
        segments: The segments just fetched.
        account: The account's label; the file is ``<state>/<account-slug>.json``.
        state: Directory (local path or fsspec URL) that holds one snapshot per account.
        fetched_at: When the segments were fetched (default: now, UTC).
        source: Where they came from (the API host), kept as metadata.
        pending: Change messages still owed to some notification target (the outbox).
        held_drops: Consecutive runs that held a suspicious drop.

    Returns:
        The snapshot's location, without any credentials it may contain.

    Example:
        Fetch an account and record its snapshot:
        ```python
        from prefect import flow
        from prefect_botpenguin import fetch_segments, save_segments_snapshot

        @flow
        def record_snapshot() -> str:
            segments = fetch_segments()
            return save_segments_snapshot(segments, "larkspur", state="snapshots")

        if __name__ == "__main__":
            print(record_snapshot())
        ```
    """
    location = snapshot_location(state, account)
    snapshot = Snapshot(
        account=account,
        fetched_at=fetched_at or datetime.now(UTC),
        source=source,
        segments=tuple(segments),
        pending=tuple(pending or ()),
        held_drops=held_drops,
    )
    await asyncio.to_thread(write_snapshot, snapshot, location)
    shown = display_location(location)
    get_run_logger().info("Saved snapshot of %d segment(s) to %s", len(segments), shown)
    return shown


asave_segments_snapshot, save_segments_snapshot = dual_task(
    _save_segments_snapshot,
    name="save-botpenguin-snapshot",
    tags=["botpenguin"],
    cache_policy=NO_CACHE,
)
