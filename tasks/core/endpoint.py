"""Checks for the two values every client needs: the API host and the token.

Kept apart from ``.settings`` so building a client from arguments (the core client, the
fan-out engine) does not import pydantic-settings, the largest part of the core's import
time; ``.settings`` re-exports these names. No Prefect import.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from urllib.parse import urlsplit

from .errors import ConfigurationError, MissingTokenError

DEFAULT_BASE_URL = "https://api-v7.express-chat.com"


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses, where plain HTTP cannot leak a token."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def validate_base_url(url: str) -> str:
    """Return ``url`` without a trailing slash, or raise ``ConfigurationError`` saying why not.

    HTTPS is required because the token travels in a header; plain HTTP is allowed only on
    loopback (the bundled sandbox, local proxies).
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"BotPenguin base URL {url!r} is not an http(s) URL; "
            f"set BOTPENGUIN_BASE_URL to e.g. {DEFAULT_BASE_URL}."
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigurationError(
            f"BotPenguin base URL {url!r} uses plain http on a non-loopback host, "
            "which would send the API token unencrypted; use https://."
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(
            f"BotPenguin base URL {url!r} must not carry credentials, a query or a fragment; "
            "give only scheme, host and optional path."
        )
    return url.strip().rstrip("/")


def clean_token(token: str | None) -> str:
    """The token without surrounding white space, or a ``ConfigurationError`` saying why not.

    Tokens pasted from a file end in a newline, and tokens pasted from a chat or a document
    can carry typographic quotes or a line break; none of that is part of a token, and a
    header cannot carry it. The message never repeats the token.
    """
    if not token or not token.strip():
        raise MissingTokenError(
            "No BotPenguin API token configured: set BOTPENGUIN_API_TOKEN or use a "
            "BotPenguinCredentials block (BotPenguin panel: More -> Developer -> "
            "API Access Token)."
        )
    token = token.strip()
    bad = sorted(
        {char for char in token if not (char.isascii() and char.isprintable())}
        | ({char for char in token if char in "\"' "})
    )
    if bad:
        names = ", ".join(unicodedata.name(char, f"U+{ord(char):04X}") for char in bad)
        raise ConfigurationError(
            f"The BotPenguin API token contains characters no token has ({names}); copy it "
            "again from the BotPenguin panel (More -> Developer -> API Access Token), "
            "without quotes or line breaks."
        )
    return token
