"""Account labels: how one BotPenguin account is named in artifact keys, files and events.

The slug must be distinct for distinct labels, stable from run to run, and limited to what
Prefect keys allow (lowercase ASCII letters, digits, dashes). Two rules give that:

- a label written in ASCII or accented Latin letters keeps the slug it always had (so older
  snapshots, artifact keys and event resources still match): ``São Paulo`` -> ``sao-paulo``;
- any other label (Cyrillic, CJK, Arabic, symbols, ...) is transliterated where possible and
  always ends in 8 hex digits of a hash of the whole label, so two labels that transliterate
  alike still differ: ``Магазин Москва`` -> ``magazin-moskva-<hash>``.

Labels that differ only in case or punctuation can still share a slug (as they always did);
the snapshot records its label, and a run for another label is refused (see ``snapshots``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from text_unidecode import unidecode

TRANSLITERATION_LIMIT = 48
"""Longest transliterated part of a hashed slug, so keys and file names stay short."""
_IGNORABLE = ("M", "P", "Z", "Cc", "Cf")  # marks, punctuation, spaces, control/format
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def account_slug(label: str) -> str:
    """``label`` as lowercase letters, digits and dashes, the only characters Prefect keys allow.

    >>> account_slug("Larkspur Tea Co. (São Paulo)")
    'larkspur-tea-co-sao-paulo'
    >>> account_slug("Магазин Москва")
    'magazin-moskva-e250546c'
    """
    decomposed = unicodedata.normalize("NFKD", label)
    if all(char.isascii() or _ignorable(char) for char in decomposed):
        ascii_label = decomposed.encode("ascii", "ignore").decode()
        return _NOT_SLUG.sub("-", ascii_label.lower()).strip("-") or "default"
    canonical = unicodedata.normalize("NFC", label)
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    readable = _NOT_SLUG.sub("-", unidecode(canonical).lower()).strip("-")
    readable = readable[:TRANSLITERATION_LIMIT].rstrip("-")
    return f"{readable}-{digest}" if readable else f"account-{digest}"


def _ignorable(char: str) -> bool:
    """Characters the ASCII slug could always drop without mixing up two labels' letters."""
    return unicodedata.category(char).startswith(_IGNORABLE)
