"""Account labels: how one BotPenguin account is named in artifact keys, files and events."""

from __future__ import annotations

import re
import unicodedata


def account_slug(label: str) -> str:
    """``label`` as lowercase letters, digits and dashes, the only characters Prefect keys allow.

    >>> account_slug("Larkspur Tea Co. (São Paulo)")
    'larkspur-tea-co-sao-paulo'
    """
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_label.lower()).strip("-")
    return slug or "default"
