"""Segments as bytes in CSV, JSON, JSON Lines or Parquet: every segment, every field.

Why a module of its own: the serialisers are pure functions (no Prefect, no I/O), so exports,
snapshots and tests can use them alone. All four formats start from ``Segment.to_record()``
and take their columns from *all* segments, never from the first one only, so a field that a
single segment carries is still exported. Values must be JSON data (what the API sends); any
other Python object is refused with an ``ExportError`` before a byte is written.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any, Literal, get_args

from .errors import ExportError
from .models import RECORD_KEYS, Segment

ExportFormat = Literal["csv", "json", "jsonl", "parquet"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)
FORMAT_BY_EXTENSION: Mapping[str, ExportFormat] = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
JSON_FIELD_METADATA = {"encoding": "json"}
"""Parquet field metadata on columns whose values are JSON text (nested or mixed types)."""

_INT64 = range(-(2**63), 2**63)
_EXACT_FLOAT_INT = range(-(2**53), 2**53 + 1)
_STRICT_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False)
"""``json.dumps(value, ensure_ascii=False, allow_nan=False)`` without building an encoder per
call (``json.dumps`` makes a new one for every call with non-default options): the same text,
and it refuses what is not JSON data (``TypeError``, ``ValueError`` for NaN/Infinity)."""
_to_json_text: Callable[[Any], str] = _STRICT_JSON.encode
_NONE = type(None)
_PLAIN_TYPES = frozenset({str, int, float, bool, dict, list, _NONE})


def format_for(
    destination: str | os.PathLike[str], explicit: ExportFormat | None = None
) -> ExportFormat:
    """The format to write: ``explicit`` when given, else the one the destination's extension names.

    ``destination`` is a local path or a URL; only its last component counts. Callers check
    this before fetching, so a destination like ``out.txt`` fails at once.
    """
    if explicit is not None:
        if explicit not in EXPORT_FORMATS:
            raise ExportError(
                f"Unknown export format {explicit!r}; choose one of {', '.join(EXPORT_FORMATS)}."
            )
        return explicit
    name = re.split(r"[/\\]", os.fspath(destination).rstrip("/\\"))[-1]
    try:
        return FORMAT_BY_EXTENSION[PurePosixPath(name).suffix.lower()]
    except KeyError:
        raise ExportError(
            f"Cannot tell the export format of {name!r} from its extension; end the name in "
            ".csv, .json, .jsonl or .parquet, or give the format explicitly."
        ) from None


def export_records(segments: list[Segment]) -> list[dict[str, Any]]:
    """``to_record()`` of every segment, after checking each value is JSON data."""
    records = [segment.to_record() for segment in segments]
    check_json_data(records)
    return records


def check_json_data(records: list[dict[str, Any]]) -> None:
    """Raise ``ExportError`` naming the first value (record by record) that is not JSON data."""
    for record in records:
        for field, value in record.items():
            try:
                _to_json_text(value)
            except (TypeError, ValueError):
                raise ExportError(
                    f"Segment {record['id']!r} field {field!r} holds a {type(value).__name__} "
                    "that is not JSON data, so no format can hold it; nothing was written."
                ) from None


def export_columns(records: list[dict[str, Any]]) -> list[str]:
    """``id, name, customer_id``, then every other field any record has, sorted."""
    others = {key for record in records for key in record} - set(RECORD_KEYS)
    return [*RECORD_KEYS, *sorted(others)]


def serialise(segments: list[Segment], format: ExportFormat) -> bytes:
    """The whole export as bytes, so nothing reaches storage until serialising has succeeded.

    Every value must be JSON data. Rather than encode each one twice (once to check, once to
    write), the writers encode strictly (``_STRICT_JSON``) and check what they pass through
    as it is (finite floats); when one refuses a value, ``check_json_data`` names it.
    """
    writer = _WRITERS.get(format)
    if writer is None:
        raise ExportError(
            f"Unknown export format {format!r}; choose one of {', '.join(EXPORT_FORMATS)}."
        )
    records = [segment.to_record() for segment in segments]
    try:
        return writer(records)
    except (TypeError, ValueError):
        check_json_data(records)  # raises ExportError naming the value, if that was it
        raise


def to_csv(records: list[dict[str, Any]], columns: Sequence[str] | None = None) -> bytes:
    """UTF-8 CSV (RFC 4180 quoting, CRLF rows) with a header row: ``columns`` in that order,
    by default the segment columns (``export_columns``).

    A string is written as is; ``None`` as an empty cell (so it reads back like an empty
    string); every other value -- numbers, ``true``/``false``, nested objects and lists -- as
    its JSON text, which keeps nested data lossless and readable by any JSON parser.
    """
    columns = list(columns or export_columns(records))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writerow = writer.writerow
    to_text = _to_json_text
    for record in records:
        row = []
        for column in columns:
            value = record.get(column)
            row.append("" if value is None else value if isinstance(value, str) else to_text(value))
        writerow(row)
    return buffer.getvalue().encode("utf-8")


def to_json(records: list[dict[str, Any]]) -> bytes:
    """A JSON array of records with native types; a field a segment lacks stays absent."""
    text = json.dumps(records, ensure_ascii=False, indent=2, allow_nan=False)
    return (text + "\n").encode("utf-8")


def to_jsonl(records: list[dict[str, Any]]) -> bytes:
    """JSON Lines: one record per line (newlines inside values are escaped by JSON)."""
    to_text = _to_json_text
    return "".join([to_text(record) + "\n" for record in records]).encode("utf-8")


def to_parquet(records: list[dict[str, Any]], columns: Sequence[str] | None = None) -> bytes:
    """Parquet with an explicit, nullable schema built from every record; ``columns`` as for
    ``to_csv``.

    Column types: all strings -> ``string``; all booleans -> ``bool``; all integers ->
    ``int64``; integers mixed with floats -> ``float64``; a column of nulls only -> ``string``.
    Nested values (objects, lists), columns mixing incompatible types (say a string and a
    number) and integers no ``int64``/``float64`` can hold exactly are stored as **JSON text**
    in a ``string`` column -- every value of such a column is ``json.dumps``-ed, so
    ``json.loads`` gives the original back -- and the field carries the metadata
    ``{"encoding": "json"}`` so readers can tell.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = []
    arrays = []
    for column in columns or export_columns(records):
        kind, values = _typed_column([record.get(column) for record in records])
        arrow_type = parquet_type(kind)
        metadata = JSON_FIELD_METADATA if kind == "json" else None
        fields.append(pa.field(column, arrow_type, nullable=True, metadata=metadata))
        arrays.append(pa.array(values, type=arrow_type))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def parquet_type(kind: str) -> Any:
    """The Arrow type of a column of ``kind`` (JSON text is a ``string`` column)."""
    import pyarrow as pa

    return {
        "string": pa.string(),
        "json": pa.string(),
        "bool": pa.bool_(),
        "int64": pa.int64(),
        "float64": pa.float64(),
    }[kind]


def _typed_column(values: list[Any]) -> tuple[str, list[Any]]:
    """``_parquet_column`` by whole-column type checks, refusing what is not JSON data.

    Same kinds and values as ``_parquet_column`` for JSON data (the common case: exact
    ``str``/``int``/``float``/``bool``/``dict``/``list`` values), decided with one pass of
    ``type`` over the column instead of a Python call per cell; other value types take the
    cell-by-cell path. NaN/Infinity and non-JSON values raise ``ValueError``/``TypeError``.
    """
    types = set(map(type, values))
    types.discard(_NONE)
    if not types <= _PLAIN_TYPES:
        for value in values:
            _to_json_text(value)  # refuse what is not JSON data before the lenient path
        return _parquet_column(values)
    if types <= {str}:
        return "string", values
    if types == {bool}:
        return "bool", values
    if types <= {int, float}:
        present = [value for value in values if value is not None]
        floats = present if types == {float} else [v for v in present if type(v) is float]
        if not all(map(math.isfinite, floats)):
            raise ValueError("Out of range float values are not JSON compliant")
        if types == {float}:
            return "float64", values
        ints = present if types == {int} else [v for v in present if type(v) is int]
        low, high = min(ints), max(ints)
        if types == {int} and low in _INT64 and high in _INT64:
            return "int64", values
        if types == {int, float} and low in _EXACT_FLOAT_INT and high in _EXACT_FLOAT_INT:
            return "float64", [None if value is None else float(value) for value in values]
    to_text = _to_json_text
    return "json", [None if value is None else to_text(value) for value in values]


def _parquet_column(values: list[Any]) -> tuple[str, list[Any]]:
    """Pick one Arrow type for a column from all of its values, and convert them to it."""
    kinds = {_kind(value) for value in values if value is not None}
    ints = [value for value in values if _kind(value) == "int"]
    if kinds <= {"str"}:
        return "string", values
    if kinds == {"bool"}:
        return "bool", values
    if kinds == {"int"} and all(value in _INT64 for value in ints):
        return "int64", values
    if kinds == {"int", "float"} and all(value in _EXACT_FLOAT_INT for value in ints):
        return "float64", [None if value is None else float(value) for value in values]
    if kinds == {"float"}:
        return "float64", values
    json_values = [
        None if value is None else json.dumps(value, ensure_ascii=False) for value in values
    ]
    return "json", json_values


_WRITERS: dict[str, Callable[[list[dict[str, Any]]], bytes]] = {
    "csv": to_csv,
    "json": to_json,
    "jsonl": to_jsonl,
    "parquet": to_parquet,
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):  # before int: bool is a subclass of int
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "nested"
