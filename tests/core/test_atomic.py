"""The shared atomic writer: temporary names stay valid for any name the file system takes."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_botpenguin.core.atomic import (
    is_temp_of,
    remove_fsspec_temps,
    remove_local_temps,
    replace_local_file,
    temp_name,
)

NAME_MAX = 255


@pytest.mark.parametrize(
    "name", ["s" * 245 + ".csv", "сегменты-" * 14 + "x" * 8 + ".csv", "a.json"]
)
def test_temp_names_fit_in_255_bytes_and_stay_hidden(name: str) -> None:
    temp = temp_name(name)
    assert len(temp.encode()) <= NAME_MAX
    assert temp.startswith(".")
    assert ".tmp-" in temp
    temp.encode("utf-8")  # a multi-byte character is never cut in half


def test_a_249_byte_file_name_is_written_atomically(tmp_path: Path) -> None:
    target = tmp_path / ("s" * 245 + ".csv")
    assert len(target.name.encode()) == 249

    replace_local_file(target, b"first")
    replace_local_file(target, b"second")

    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == [target.name], "no temporary file left"


LONG = "s" * 245 + ".csv"


def _decoys(name: str) -> list[str]:
    """Names beside ``name`` that a sweep of its leftovers must never touch (and fit a folder)."""
    names = [
        name,
        f".{name}.tmp-notes",  # a user's file: not a random hex tail
        f".{name}.tmp-{'0' * 11}",  # one hex digit short
        f".other-{name}.tmp-{'a' * 12}",  # another file's temp
        f"{name}.tmp-{'a' * 12}",  # not hidden
        f".{name}.bak",
    ]
    return [decoy for decoy in names if len(decoy.encode()) <= NAME_MAX]


@pytest.mark.parametrize("name", ["a.json", LONG, "сегменты-" * 14 + "x" * 8 + ".csv"])
def test_a_temp_name_is_recognised_as_its_files_and_no_other_name_is(name: str) -> None:
    assert is_temp_of(name, temp_name(name))
    assert not is_temp_of("b.json", temp_name(name))
    assert not any(is_temp_of(name, decoy) for decoy in _decoys(name))


@pytest.mark.parametrize("name", ["a.json", LONG])
def test_a_local_sweep_removes_only_the_temp_files_of_its_target(tmp_path: Path, name: str) -> None:
    leftovers = [temp_name(name), temp_name(name)]
    for file in [*leftovers, *_decoys(name)]:
        (tmp_path / file).write_bytes(b"x")

    assert remove_local_temps(tmp_path / name) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(_decoys(name))
    assert remove_local_temps(tmp_path / "missing-folder" / name) == 0


def test_an_fsspec_sweep_removes_only_the_temp_files_of_its_target(tmp_path: Path) -> None:
    import fsspec

    fs = fsspec.filesystem("file")
    for file in [temp_name("a.json"), *_decoys("a.json")]:
        (tmp_path / file).write_bytes(b"x")

    assert remove_fsspec_temps(fs, f"{tmp_path.as_posix()}/a.json") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(_decoys("a.json"))
    assert remove_fsspec_temps(fs, f"{tmp_path.as_posix()}/none/a.json") == 0
    memory = fsspec.filesystem("memory")  # one put per object: never a temp to look for
    memory.pipe_file(f"/sweep/{temp_name('a.json')}", b"x")
    assert remove_fsspec_temps(memory, "/sweep/a.json") == 0
