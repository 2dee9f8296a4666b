"""The e2e tests find what the machine has, and say exactly what to run when they cannot install.

Installing for real is proven by the UI test on a machine without chromium (the ``chromium``
fixture); these check the decisions around it, without touching apt.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import system_packages
from system_packages import ensure_debian_package, find_postgres_bindir


def never_found() -> Path | None:
    return None


def postgres_home(homes: Path, version: str) -> Path:
    bindir = homes / version / "bin"
    bindir.mkdir(parents=True)
    (bindir / "pg_ctl").touch()
    (bindir / "initdb").touch()
    return bindir


def test_an_installed_package_is_used_without_apt(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get: it would fail if it were needed
    assert ensure_debian_package("chromium", lambda: tmp_path, "Chromium") == tmp_path


def test_without_root_the_failure_names_the_command_to_run(monkeypatch):
    monkeypatch.setattr(system_packages.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(system_packages.os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.fail.Exception) as failure:
        ensure_debian_package("chromium", never_found, "Chromium (/usr/bin/chromium)")
    message = str(failure.value)
    assert "\n" not in message
    assert "sudo sh -c 'apt-get update && apt-get install -y chromium'" in message


def test_without_apt_the_failure_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception) as failure:
        ensure_debian_package("postgresql", never_found, "PostgreSQL (initdb, pg_ctl)")
    assert "no apt-get: install `postgresql`" in str(failure.value)


def test_postgres_15_is_found_off_path_first(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for version in ("14", "15", "16"):
        postgres_home(tmp_path, version)
    assert find_postgres_bindir(tmp_path) == tmp_path / "15" / "bin"


def test_without_15_the_newest_postgres_is_found(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for version in ("9.6", "14", "16"):
        postgres_home(tmp_path, version)
    assert find_postgres_bindir(tmp_path) == tmp_path / "16" / "bin"


def test_without_debian_homes_initdb_on_path_is_found(monkeypatch, tmp_path):
    bindir = postgres_home(tmp_path / "elsewhere", "17")
    monkeypatch.setenv("PATH", str(bindir))
    (bindir / "initdb").chmod(0o755)
    assert find_postgres_bindir(tmp_path / "no-debian-homes") == bindir


def test_no_postgres_anywhere_is_none(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_postgres_bindir(tmp_path / "no-debian-homes") is None
