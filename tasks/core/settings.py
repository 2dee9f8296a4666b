"""Configuration from ``BOTPENGUIN_*`` environment variables or a ``.env`` file.

The same knobs drive the client whether it is built from the environment or from a
credentials block, so a deployment and a laptop behave alike.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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


class BotPenguinSettings(BaseSettings):
    """Everything the client needs, readable as documentation (env prefix ``BOTPENGUIN_``)."""

    model_config = SettingsConfigDict(
        env_prefix="BOTPENGUIN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    api_token: SecretStr | None = Field(
        default=None,
        description=(
            "API token from the BotPenguin panel (More -> Developer -> API Access Token)."
        ),
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description=(
            "API host; BotPenguin's own (https://api.v7.botpenguin.com) and white-label hosts "
            "work by changing only this."
        ),
    )
    account: str = Field(
        default="default",
        description="Label for this account in artifact keys, snapshots and events.",
    )
    ca_bundle: str | None = Field(
        default=None,
        description=(
            "PEM file (or directory) of CA certificates to trust for the API host instead of "
            "the default store, e.g. a corporate CA that inspects TLS."
        ),
    )
    connect_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to wait for a TCP/TLS connection."
    )
    read_timeout: float = Field(
        default=30.0, gt=0, description="Seconds to wait for each read of the response."
    )
    max_attempts: int = Field(
        default=4, ge=1, le=20, description="Requests per call, the first one included."
    )
    backoff_base: float = Field(
        default=0.5, ge=0, description="First backoff wait in seconds; doubles per retry."
    )
    backoff_cap: float = Field(
        default=8.0, ge=0, description="Longest backoff wait in seconds between two attempts."
    )
    deadline: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a call may take in all, retries and waits included.",
    )
    max_retry_after: float = Field(
        default=60.0,
        ge=0,
        description="Longest Retry-After (seconds) honoured; a longer demand fails at once.",
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        try:
            return validate_base_url(value)
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _check_backoff(self) -> BotPenguinSettings:
        if self.backoff_cap < self.backoff_base:
            raise ValueError("BOTPENGUIN_BACKOFF_CAP must be at least BOTPENGUIN_BACKOFF_BASE.")
        return self


def load_settings() -> BotPenguinSettings:
    """Read settings, turning pydantic's multi-line report into one ``ConfigurationError`` line."""
    try:
        return BotPenguinSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"BOTPENGUIN_{'_'.join(str(p) for p in err['loc']).upper() or 'SETTINGS'}: "
            f"{err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors(include_input=False)
        )
        raise ConfigurationError(f"Invalid BotPenguin settings: {problems}") from None
