"""Reading and writing the watch's state files (snapshot, membership, size history).

Why one place: every state file lives at a local path or an fsspec URL and must be replaced
atomically -- a failed write leaves the previous file byte-identical -- and a missing file
means "first run", not an error. Locally a temporary file in the same directory is renamed
over the old one; on object stores the file is one single-object PUT; on other fsspec
back-ends a temporary object is written and then moved into place (``.atomic``). Errors are
``SnapshotError`` naming the file, never its content. Never imports Prefect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from .accounts import account_slug
from .atomic import replace_fsspec_file, replace_local_file
from .errors import SnapshotError
from .locations import display_location, open_fsspec

T = TypeVar("T")


def file_header(format: str, version: int, account: str, fetched_at: datetime) -> dict[str, Any]:
    """The first keys of an account's state file: what it is, and whose fetch of when."""
    return {
        "format": format,
        "version": version,
        "account": account,
        "fetched_at": fetched_at.isoformat(),
    }


def require_format(document: Any, format: str, shown: str, what: str, fix: str) -> dict[str, Any]:
    """``document`` if it is a state file of ``format``, else the error saying how to move on."""
    if not isinstance(document, dict) or document.get("format") != format:
        raise SnapshotError(
            f"{shown} is not a prefect-botpenguin {what}; choose another state location or {fix}."
        )
    return document


def read_state_file(location: str, what: str, parse: Callable[[bytes, str], T]) -> T | None:
    """``parse(content, location)`` of the file, or None when there is none yet.

    ``what`` names the file in errors ("snapshot", "size history", ...).
    """
    fs, path = open_fsspec(location, SnapshotError, "open state location")
    try:
        data: bytes = fs.cat_file(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SnapshotError(
            f"Cannot read {what} {display_location(location)} ({type(exc).__name__}); "
            "check the state location and its permissions."
        ) from None
    return parse(data, location)


def write_state_file(location: str, data: bytes, what: str, previous: str = "") -> None:
    """Replace the file at ``location`` with ``data`` atomically (private when local).

    Errors say "the previous ``previous`` is unchanged" (default: ``what``).
    """
    from fsspec.implementations.local import LocalFileSystem

    fs, path = open_fsspec(location, SnapshotError, "open state location")
    try:
        if isinstance(fs, LocalFileSystem):
            replace_local_file(Path(path), data, private=True)
        else:
            replace_fsspec_file(fs, path, data)
    except OSError as exc:
        raise SnapshotError(
            f"Cannot write {what} {display_location(location)} ({type(exc).__name__}: "
            f"{getattr(exc, 'strerror', None) or 'write failed'}); the previous "
            f"{previous or what} is unchanged. Check the state location and its permissions."
        ) from None


class Stored(Protocol):
    """A state file's model: it knows its own bytes."""

    def to_json_bytes(self) -> bytes: ...


M = TypeVar("M", bound=Stored)


@dataclass(frozen=True)
class StateFile(Generic[M]):
    """One kind of state file: its name beside the account's snapshot, how it is read back."""

    suffix: str
    """After the account's slug: ``.json`` (the snapshot), ``.members.json``, ..."""
    what: str
    """Its name in errors."""
    parse: Callable[[bytes, str], M]
    """``parse(content, location)``: the model, or a ``SnapshotError`` naming the file."""
    previous: str = ""
    """How a failed write's error calls the file it left alone (default: ``what``)."""

    def location(self, state: str, account: str) -> str:
        """The file of ``account`` inside the ``state`` directory or URL."""
        return f"{state.rstrip('/')}/{account_slug(account)}{self.suffix}"

    def read(self, location: str) -> M | None:
        """The model at ``location``, or None when there is none yet (the first run)."""
        return read_state_file(location, self.what, self.parse)

    def write(self, model: M, location: str) -> None:
        """Serialise first (a failure there touches nothing), then replace atomically."""
        write_state_file(location, model.to_json_bytes(), self.what, self.previous)


__all__ = ["StateFile", "file_header", "read_state_file", "require_format", "write_state_file"]
