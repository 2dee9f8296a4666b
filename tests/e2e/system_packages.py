"""What the end-to-end tests need from the machine: Debian's chromium and postgresql.

The README's test command must pass on a fresh machine with only Python and uv, so the tests
install these themselves: as root with apt, once, under a file lock. Never a downloaded
browser (no ``playwright install``). Without root or apt, the test fails with the one
command to run.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
APT_LOCK = Path(tempfile.gettempdir()) / "prefect-botpenguin-apt.lock"
"""Held while installing, so parallel sessions install a package once."""
APT_LOG = ROOT / "test-output" / "e2e" / "apt.log"
APT_TIMEOUT = 1200.0
CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium, which the UI test drives."""
POSTGRES_HOMES = Path("/usr/lib/postgresql")
POSTGRES_VERSION = "15"
"""The version the design targets; another installed one is used when 15 is not there."""

_apt_updated = False


def ensure_debian_package(package: str, find: Callable[[], T | None], what: str) -> T:
    """What ``find`` finds; if nothing, install Debian's ``package`` first (root and apt)."""
    found = find()
    if found is not None:
        return found
    command = f"apt-get update && apt-get install -y {package}"
    if shutil.which("apt-get") is None:
        pytest.fail(f"{what} is not installed and there is no apt-get: install `{package}`")
    if os.geteuid() != 0:
        pytest.fail(f"{what} is not installed; run: sudo sh -c '{command}'")
    APT_LOG.parent.mkdir(parents=True, exist_ok=True)
    with APT_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be installing it right now
        found = find()
        if found is not None:
            return found
        global _apt_updated
        if not _apt_updated:
            _apt("update")
            _apt_updated = True
        _apt("install", "-y", package)
    found = find()
    if found is None:
        pytest.fail(f"`apt-get install {package}` succeeded but {what} is still missing")
    return found


def _apt(*args: str) -> None:
    """One apt-get command, waiting for dpkg's lock; its output goes to ``APT_LOG``."""
    argv = ["apt-get", "-o", "DPkg::Lock::Timeout=600", *args]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with APT_LOG.open("a", encoding="utf-8") as log:
        log.write(f"$ {' '.join(argv)}\n")
        log.flush()
        result = subprocess.run(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=APT_TIMEOUT, check=False
        )
    if result.returncode != 0:
        pytest.fail(f"`{' '.join(argv)}` exited {result.returncode}; see {APT_LOG}")


def find_chromium() -> Path | None:
    return CHROMIUM if CHROMIUM.exists() else None


def chromium_path() -> Path:
    """Debian's Chromium, installed with apt if missing."""
    return ensure_debian_package("chromium", find_chromium, f"Chromium ({CHROMIUM})")


def find_postgres_bindir(homes: Path = POSTGRES_HOMES) -> Path | None:
    """Where Debian keeps initdb and pg_ctl (off ``PATH``): 15 first, else the newest, else PATH."""
    bindirs = sorted(
        (bindir for bindir in homes.glob("*/bin") if (bindir / "pg_ctl").exists()),
        key=lambda bindir: (bindir.parent.name == POSTGRES_VERSION, _version(bindir.parent.name)),
        reverse=True,
    )
    if bindirs:
        return bindirs[0]
    initdb = shutil.which("initdb")
    if initdb and (Path(initdb).parent / "pg_ctl").exists():
        return Path(initdb).parent
    return None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def postgres_bindir() -> Path:
    """initdb and pg_ctl: ``BOTPENGUIN_E2E_PG_BINDIR``, else found, else apt's postgresql."""
    explicit = os.environ.get("BOTPENGUIN_E2E_PG_BINDIR")
    if explicit:
        if not (Path(explicit) / "pg_ctl").exists():
            pytest.fail(f"BOTPENGUIN_E2E_PG_BINDIR={explicit} has no pg_ctl; unset it or fix it")
        return Path(explicit)
    return ensure_debian_package("postgresql", find_postgres_bindir, "PostgreSQL (initdb, pg_ctl)")
