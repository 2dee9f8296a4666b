"""JSON as BotPenguin (a JavaScript server) may send it, read by one documented rule.

Two things strict parsers refuse are read, not refused, so one odd value never fails an
account, and every later step (report, artifacts, exports in every format, snapshots, events)
sees plain JSON data:

- a lone UTF-16 surrogate escape (``"\\ud83d"``: what JavaScript's ``JSON.stringify`` sends for
  a name cut in the middle of an emoji) becomes U+FFFD, the replacement character ``\ufffd``;
  no UTF-8 file, Parquet column or Prefect event can hold an unpaired surrogate;
- ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON, but some serialisers send them) become
  ``null``, which is what ``JSON.stringify`` itself makes of them, and the only value every
  export format, snapshot and event can hold.

The API client reads every response body with it, and snapshots their files. No Prefect import.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

from pydantic_core import from_json

_SURROGATE = re.compile("[\\ud800-\\udfff]")


def read_json(content: bytes) -> tuple[Any, int, int]:
    """Parse a JSON document (bytes, UTF-8, optional byte-order mark) by the module's rule.

    Returns the payload, how many lone surrogates became U+FFFD and how many NaN/Infinity
    values became ``None``. Raises ``ValueError`` when the body is not JSON at all.
    """
    body = content.removeprefix(codecs.BOM_UTF8)  # tolerated, as the json module does
    try:
        # pydantic-core's parser: 2.5x faster than the json module on a large account's
        # answer (see BENCHMARKS.md). It refuses both cases above, which take the slow path.
        # Only keys are cached: values may be contacts' personal data, and pydantic-core's
        # string cache is process-wide.
        return from_json(body, allow_inf_nan=False, cache_strings="keys"), 0, 0
    except ValueError:
        pass
    constants = 0

    def as_null(name: str) -> None:
        nonlocal constants
        constants += 1

    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=as_null)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    payload, surrogates = _without_lone_surrogates(payload)
    return payload, surrogates, constants


def _without_lone_surrogates(value: Any) -> tuple[Any, int]:
    """``value`` with every surrogate code point in its strings and keys replaced by U+FFFD.

    ``json.loads`` already joins every valid pair, so any surrogate left is a lone one.
    """
    if isinstance(value, str):
        return _SURROGATE.subn("\ufffd", value)
    if isinstance(value, list):
        items = [_without_lone_surrogates(item) for item in value]
        return [item for item, _ in items], sum(count for _, count in items)
    if isinstance(value, dict):
        total = 0
        clean: dict[str, Any] = {}
        for key, item in value.items():
            new_key, key_count = _SURROGATE.subn("\ufffd", key)
            clean[new_key], count = _without_lone_surrogates(item)
            total += key_count + count
        return clean, total
    return value, 0
