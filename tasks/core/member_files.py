"""Segment members streamed into CSV, JSON, JSON Lines or Parquet, one page at a time.

Why not ``core.formats``: those serialisers see every record before writing the first byte,
which is right for segments and wrong for audiences of 100,000 contacts. These writers take
records page by page into an open binary file, so memory is bounded by the page.

Records come from ``Contact.to_record`` (``segment_id``, ``id``, then the contact's fields).

- JSON Lines and JSON keep every record exactly, with native types (JSON is streamed as
  ``[``, the records, ``]``).
- CSV and Parquet need their columns before the first row. They are ``segment_id, id``,
  then the fields of the **first page** written (sorted; or exactly the chosen ``fields``),
  then ``extra``: a JSON object of every field a later contact has that no column holds
  (empty/null when there is none). Nothing is dropped, and no second listing is needed.
- Parquet types each column from the first page like ``core.formats.to_parquet`` (string,
  bool, int64, float64, or JSON text with field metadata ``{"encoding": "json"}``); a later
  value of another type goes into ``extra`` too, under its field name. Each page is one row
  group.

Contacts are personal data: errors raised here never quote a value.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Sequence
from typing import Any, BinaryIO, Protocol

from .errors import ExportError
from .formats import JSON_FIELD_METADATA, ExportFormat, _parquet_column, parquet_type

FIXED_COLUMNS = ("segment_id", "id")
EXTRA_COLUMN = "extra"
_INT64 = range(-(2**63), 2**63)
_EXACT_FLOAT_INT = range(-(2**53), 2**53 + 1)


class RecordWriter(Protocol):
    """Writes member records into an open binary file, page by page."""

    def write(self, records: list[dict[str, Any]]) -> None:
        """Append one page of records."""

    def close(self) -> None:
        """Write whatever ends the file (headers of an empty export, ``]``, the footer)."""

    def discard(self) -> None:
        """Let go of the file after a failure (the caller removes it)."""


def record_writer(
    format: ExportFormat, file: BinaryIO, fields: Sequence[str] | None = None
) -> RecordWriter:
    """The streaming writer for ``format``; ``fields`` fixes the tabular columns."""
    if format == "jsonl":
        return JsonLinesWriter(file)
    if format == "json":
        return JsonArrayWriter(file)
    if format == "csv":
        return CsvWriter(file, fields)
    if format == "parquet":
        return ParquetWriter(file, fields)
    raise ExportError(f"Unknown export format {format!r}; choose csv, json, jsonl or parquet.")


def _dumps(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, allow_nan=False)


class JsonLinesWriter:
    """One JSON object per line, native types."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    def write(self, records: list[dict[str, Any]]) -> None:
        self._file.write("".join(_dumps(r) + "\n" for r in records).encode("utf-8"))

    def close(self) -> None:
        pass

    def discard(self) -> None:
        pass


class JsonArrayWriter:
    """A JSON array streamed as ``[``, one record per line, ``]``."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._count = 0
        file.write(b"[")

    def write(self, records: list[dict[str, Any]]) -> None:
        parts = []
        for record in records:
            parts.append(("\n" if self._count == 0 else ",\n") + _dumps(record))
            self._count += 1
        self._file.write("".join(parts).encode("utf-8"))

    def close(self) -> None:
        self._file.write(b"\n]\n" if self._count else b"]\n")

    def discard(self) -> None:
        pass


class _Columns:
    """The tabular columns, fixed by the first page (or by ``fields``)."""

    def __init__(self, fields: Sequence[str] | None) -> None:
        self.names: list[str] | None = None
        if fields is not None:
            chosen = [f for f in dict.fromkeys(fields) if f not in ("_id", *FIXED_COLUMNS)]
            self.names = [*FIXED_COLUMNS, *chosen]

    def fix(self, records: list[dict[str, Any]]) -> list[str]:
        if self.names is None:
            keys = {key for record in records for key in record} - set(FIXED_COLUMNS)
            self.names = [*FIXED_COLUMNS, *sorted(keys)]
        return self.names


class CsvWriter:
    """UTF-8 CSV like ``core.formats.to_csv``: strings as is, other values as JSON text."""

    def __init__(self, file: BinaryIO, fields: Sequence[str] | None = None) -> None:
        self._file = file
        self._columns = _Columns(fields)
        self._started = False

    def write(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        columns = self._columns.fix(records)
        known = set(columns)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        if not self._started:
            writer.writerow([*columns, EXTRA_COLUMN])
            self._started = True
        for record in records:
            extra = {k: v for k, v in record.items() if k not in known}
            row = [_csv_cell(record.get(column)) for column in columns]
            writer.writerow([*row, _dumps(extra) if extra else ""])
        self._file.write(buffer.getvalue().encode("utf-8"))

    def close(self) -> None:
        if not self._started:  # an empty export still says what its columns are
            columns = self._columns.names or list(FIXED_COLUMNS)
            buffer = io.StringIO()
            csv.writer(buffer).writerow([*columns, EXTRA_COLUMN])
            self._file.write(buffer.getvalue().encode("utf-8"))

    def discard(self) -> None:
        pass


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return _dumps(value)


class ParquetWriter:
    """Parquet row groups, one per page, with the schema fixed by the first page."""

    def __init__(self, file: BinaryIO, fields: Sequence[str] | None = None) -> None:
        self._file = file
        self._columns = _Columns(fields)
        self._kinds: dict[str, str] = {}
        self._writer: Any = None

    def write(self, records: list[dict[str, Any]]) -> None:
        import pyarrow as pa

        if not records:
            return
        if self._writer is None:
            self._start(records)
        columns = self._columns.fix(records)
        # Column by column, checking a whole column's types at once: per-cell Python calls
        # made this writer 2x slower than pyarrow's own from_pylist (benchmarks/NOTES.md, e).
        extras: list[dict[str, Any] | None] = [None] * len(records)
        arrays = []
        for column in columns:
            kind = self._kinds[column]
            values = [record.get(column) for record in records]
            if not _column_fits(kind, values):
                for index, value in enumerate(values):
                    if not _fits(kind, value):
                        values[index] = None
                        extras[index] = {**(extras[index] or {}), column: value}
            if kind == "json":
                values = [None if v is None else _dumps(v) for v in values]
            elif kind == "float64":
                values = [None if v is None else float(v) for v in values]
            arrays.append(pa.array(values, type=parquet_type(kind)))
        known = set(columns)
        for index, record in enumerate(records):
            if not known.issuperset(record):
                unknown = {k: v for k, v in record.items() if k not in known}
                extras[index] = {**(extras[index] or {}), **unknown}
        extra_texts = [None if extra is None else _dumps(extra) for extra in extras]
        table = pa.Table.from_arrays(
            [*arrays, pa.array(extra_texts, type=pa.string())], schema=self._writer.schema
        )
        self._writer.write_table(table)

    def _start(self, records: list[dict[str, Any]]) -> None:
        import pyarrow.parquet as pq

        columns = self._columns.fix(records)
        for column in columns:
            kind, _ = _parquet_column([record.get(column) for record in records])
            self._kinds[column] = "string" if column in FIXED_COLUMNS else kind
        self._writer = pq.ParquetWriter(self._file, self._schema(columns))

    def _schema(self, columns: list[str]) -> Any:
        import pyarrow as pa

        fields = [
            pa.field(
                column,
                parquet_type(self._kinds[column]),
                nullable=True,
                metadata=JSON_FIELD_METADATA if self._kinds[column] == "json" else None,
            )
            for column in columns
        ]
        fields.append(pa.field(EXTRA_COLUMN, pa.string(), metadata=JSON_FIELD_METADATA))
        return pa.schema(fields)

    def close(self) -> None:
        import pyarrow.parquet as pq

        if self._writer is None:  # no contacts at all: an empty file with the known columns
            columns = self._columns.names or list(FIXED_COLUMNS)
            self._kinds = dict.fromkeys(columns, "string")
            self._writer = pq.ParquetWriter(self._file, self._schema(columns))
        self._writer.close()

    def discard(self) -> None:
        # Close while the file is still open, or pyarrow writes a footer into a closed file
        # when the writer is garbage-collected.
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None


def _fits(kind: str, value: Any) -> bool:
    """Whether ``value`` can go in a column of ``kind`` without changing what it means."""
    if value is None or kind == "json":
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int64":
        return isinstance(value, int) and value in _INT64
    if kind == "float64":
        return isinstance(value, float) or (isinstance(value, int) and value in _EXACT_FLOAT_INT)
    return False


_NONE = type(None)
_COLUMN_TYPES = {
    "string": {str, _NONE},
    "bool": {bool, _NONE},
    "int64": {int, _NONE},
    "float64": {float, _NONE},
}


def _column_fits(kind: str, values: list[Any]) -> bool:
    """``_fits`` for every value at once: True only when no value needs a closer look."""
    if kind == "json":
        return True
    if not set(map(type, values)) <= _COLUMN_TYPES[kind]:
        return False  # another type, a subclass (bool is an int), or ints in a float column
    if kind != "int64":
        return True
    numbers = [value for value in values if value is not None]
    return not numbers or (min(numbers) in _INT64 and max(numbers) in _INT64)
