"""The shared atomic writer: temporary names stay valid for any name the file system takes."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_botpenguin.core.atomic import replace_local_file, temp_name

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
