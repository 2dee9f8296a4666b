"""Configuration from ``BOTPENGUIN_*`` environment variables or a ``.env`` file.

The same knobs drive the client whether it is built from the environment or from a
credentials block, so a deployment and a laptop behave alike.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from .endpoint import DEFAULT_BASE_URL, clean_token, is_loopback_host, validate_base_url
from .errors import ConfigurationError

__all__ = [
    "DEFAULT_BASE_URL",
    "BaseUrl",
    "BotPenguinSettings",
    "clean_token",
    "is_loopback_host",
    "load_settings",
    "read_settings",
    "validate_base_url",
]

S = TypeVar("S", bound=BaseSettings)


def _base_url_field(value: str) -> str:
    try:
        return validate_base_url(value)
    except ConfigurationError as exc:
        raise ValueError(str(exc)) from None  # pydantic reports it as the field's error


BaseUrl = Annotated[str, AfterValidator(_base_url_field)]
"""An API host checked by ``validate_base_url``: for settings and the credentials block."""


def env_config(prefix: str = "BOTPENGUIN_", *, frozen: bool = False) -> SettingsConfigDict:
    """How every settings class of the pack reads its environment: one prefix, then ``.env``."""
    return SettingsConfigDict(
        env_prefix=prefix,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=frozen,
    )


class BotPenguinSettings(BaseSettings):
    """Everything the client needs, readable as documentation (env prefix ``BOTPENGUIN_``)."""

    model_config = env_config()

    api_token: SecretStr | None = Field(
        default=None,
        description=(
            "API token from the BotPenguin panel (More -> Developer -> API Access Token)."
        ),
    )
    base_url: BaseUrl = Field(
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

    @model_validator(mode="after")
    def _check_backoff(self) -> BotPenguinSettings:
        if self.backoff_cap < self.backoff_base:
            raise ValueError("BOTPENGUIN_BACKOFF_CAP must be at least BOTPENGUIN_BACKOFF_BASE.")
        return self


def load_settings() -> BotPenguinSettings:
    """``BotPenguinSettings`` from the environment, or one ``ConfigurationError`` line."""
    return read_settings(BotPenguinSettings, "settings")


def read_settings(kind: type[S], what: str) -> S:
    """Read ``kind`` from the environment, turning pydantic's multi-line report into one
    ``ConfigurationError`` line that names each bad variable (never its value).
    """
    prefix = kind.model_config.get("env_prefix") or "BOTPENGUIN_"
    try:
        return kind()
    except ValidationError as exc:
        problems = "; ".join(
            f"{prefix}{'_'.join(str(p) for p in err['loc']).upper() or 'SETTINGS'}: "
            f"{err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors(include_input=False)
        )
        raise ConfigurationError(f"Invalid BotPenguin {what}: {problems}") from None
