"""Write a whole file so that readers see the old bytes or the new ones, never a mix.

Exports and snapshots both rely on it: a run that fails or is killed mid-write must leave the
previous file byte-identical. Temporary files are hidden (``.NAME.tmp-RANDOM``) beside the
target, so a listing or a glob for the data never picks one up. No Prefect import.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

# Back-ends where one put of a whole object is already atomic (object stores, fsspec memory).
SINGLE_PUT_PROTOCOLS = frozenset(
    {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oci", "r2", "memory"}
)
OBJECT_STORES = SINGLE_PUT_PROTOCOLS - {"memory"}
"""Back-ends without folders: a put makes its key's "folders". Their ``makedirs`` of a key's
parent creates the *bucket* (s3fs, gcsfs, adlfs) when it is missing, so a typo in a bucket
name would make a new bucket and write there instead of failing: never called for them."""


NAME_MAX = 255
"""Longest file name, in bytes, that common file systems (ext4, APFS, NTFS, tmpfs) accept."""
TEMP_MARK = ".tmp-"
_TEMP_TAIL = re.compile(r"[0-9a-f]{12}")
"""What ``secrets.token_hex(6)`` gives: how a leftover is told from a user's own file."""


def temp_name(name: str) -> str:
    """A hidden, clearly temporary sibling name for ``name``, at most ``NAME_MAX`` bytes.

    A target name that is itself near the limit is shortened (whole characters only) in the
    temporary name, so any name the file system accepts can be written atomically.
    """
    return f".{_shortened(name)}{TEMP_MARK}{secrets.token_hex(6)}"


def _shortened(name: str) -> str:
    room = NAME_MAX - len(f".{TEMP_MARK}{'0' * 12}".encode())
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) > room:  # "ignore" drops a character the cut split in two
        return encoded[:room].decode("utf-8", "ignore")
    return name


def is_temp_of(name: str, candidate: str) -> bool:
    """Whether ``candidate`` is a name ``temp_name(name)`` gives: a write of ``name`` left it."""
    stem, mark, tail = candidate.rpartition(TEMP_MARK)
    return bool(mark) and stem == f".{_shortened(name)}" and bool(_TEMP_TAIL.fullmatch(tail))


def remove_local_temps(path: Path) -> int:
    """Remove the temp files that killed writes of ``path`` left beside it; how many.

    Only for a writer that knows no other write of ``path`` is under way (a re-run of a
    killed one): a live write's temp file looks the same.
    """
    try:
        siblings = list(path.parent.iterdir())
    except OSError:  # no folder yet: nothing was ever written there
        return 0
    removed = 0
    for sibling in siblings:
        if is_temp_of(path.name, sibling.name):
            with contextlib.suppress(FileNotFoundError):
                sibling.unlink()
                removed += 1
    return removed


def remove_fsspec_temps(fs: Any, path: str) -> int:
    """``remove_local_temps`` for an fsspec back-end; object stores never get temp objects."""
    if _protocols(fs) & SINGLE_PUT_PROTOCOLS:
        return 0
    parent, _, name = path.rpartition("/")
    try:
        siblings = fs.ls(parent or ".", detail=False)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    removed = 0
    for sibling in siblings:
        if is_temp_of(name, str(sibling).rstrip("/").rpartition("/")[2]):
            with contextlib.suppress(FileNotFoundError):
                fs.rm(sibling)
                removed += 1
    return removed


def replace_local_file(path: Path, data: bytes, *, private: bool = False) -> None:
    """Temp file beside ``path``, fsync, rename over it (POSIX-atomic), fsync the directory.

    The previous file's permissions are kept; a new file is owner-only when ``private``.
    """
    with local_file_replacement(path, private=private) as file:
        file.write(data)


@contextlib.contextmanager
def local_file_replacement(path: Path, *, private: bool = False) -> Iterator[BinaryIO]:
    """A temp file beside ``path`` to write bit by bit; it replaces ``path`` when the block ends.

    Like ``replace_local_file`` (fsync, keep permissions, atomic rename), for data that is
    streamed rather than held: an exception in the block removes the temp file and leaves
    ``path`` as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(temp_name(path.name))
    try:
        descriptor = os.open(
            temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666
        )
        with os.fdopen(descriptor, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        if path.exists():
            shutil.copymode(path, temp)  # keep permissions a user set on the previous file
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise
    # Make the rename itself durable; not every platform lets a directory be fsync'ed.
    with contextlib.suppress(OSError):
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _protocols(fs: Any) -> set[str]:
    return {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)


def _make_parent(fs: Any, parent: str) -> None:
    """``parent``'s folders, where the back-end has folders (see ``OBJECT_STORES``)."""
    if parent and not _protocols(fs) & OBJECT_STORES:
        fs.makedirs(parent, exist_ok=True)


def replace_fsspec_file(fs: Any, path: str, data: bytes) -> None:
    """One put on object stores; elsewhere a temp object beside ``path``, then ``fs.mv``."""
    if _protocols(fs) & SINGLE_PUT_PROTOCOLS:
        _make_parent(fs, path.rpartition("/")[0])
        fs.pipe_file(path, data)  # all of it at once: no spool file needed
        return
    with fsspec_file_replacement(fs, path) as file:
        file.write(data)


@contextlib.contextmanager
def fsspec_file_replacement(fs: Any, path: str) -> Iterator[BinaryIO]:
    """``replace_fsspec_file`` for streamed data: write into the yielded file, bit by bit.

    Object stores get one put of a local spool file when the block ends (so nothing partial
    is ever visible and memory stays small); other back-ends a temp object beside ``path``
    and ``fs.mv``. An exception in the block leaves ``path`` as it was and no temp behind.
    """
    parent, _, name = path.rpartition("/")
    _make_parent(fs, parent)
    if _protocols(fs) & SINGLE_PUT_PROTOCOLS:
        with local_spool() as spool:
            yield spool
            spool.flush()
            fs.put_file(spool.name, path)
        return
    temp = f"{parent}/{temp_name(name)}" if parent else temp_name(name)
    try:
        with fs.open(temp, "wb") as file:
            yield file
        fs.mv(temp, path)
    except BaseException:
        with contextlib.suppress(Exception):  # cleanup must not hide the original failure
            if fs.exists(temp):
                fs.rm(temp)
        raise


@contextlib.contextmanager
def local_spool() -> Iterator[BinaryIO]:
    """A private temporary local file, removed when the block ends whatever happens."""
    with tempfile.NamedTemporaryFile(prefix=".botpenguin-spool-") as spool:
        yield cast(BinaryIO, spool)
