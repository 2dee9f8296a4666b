"""Settings: env prefix, .env file, URL rules, and one-line configuration errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_botpenguin.core.client import BotPenguinClient
from prefect_botpenguin.core.errors import ConfigurationError, MissingTokenError
from prefect_botpenguin.core.settings import (
    DEFAULT_BASE_URL,
    BotPenguinSettings,
    load_settings,
    validate_base_url,
)

SECRET = "5ec2e7000000000000000001"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("API_TOKEN", "BASE_URL", "ACCOUNT", "MAX_ATTEMPTS", "BACKOFF_CAP"):
        monkeypatch.delenv(f"BOTPENGUIN_{name}", raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_point_at_the_documented_host() -> None:
    settings = BotPenguinSettings()
    assert settings.base_url == DEFAULT_BASE_URL
    assert settings.api_token is None
    assert settings.max_attempts == 4


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOTPENGUIN_API_TOKEN", SECRET)
    monkeypatch.setenv("BOTPENGUIN_BASE_URL", "https://api.v7.botpenguin.com/")
    monkeypatch.setenv("BOTPENGUIN_MAX_ATTEMPTS", "2")
    settings = load_settings()
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == SECRET
    assert settings.base_url == "https://api.v7.botpenguin.com"
    assert settings.max_attempts == 2


def test_reads_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"BOTPENGUIN_API_TOKEN={SECRET}\nBOTPENGUIN_BASE_URL=https://bots.reseller.test\n"
    )
    settings = load_settings()
    assert settings.base_url == "https://bots.reseller.test"
    client = BotPenguinClient.from_settings(settings)
    assert client.base_url == "https://bots.reseller.test"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9", "https://x.test/p"]
)
def test_https_or_loopback_http_is_accepted(url: str) -> None:
    assert validate_base_url(url) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://api-v7.express-chat.com", "unencrypted"),
        ("ftp://example.test", "not an http"),
        ("api.v7.botpenguin.com", "not an http"),
        ("https://user:pw@example.test", "credentials"),
    ],
)
def test_bad_base_url_is_a_one_line_configuration_error(
    monkeypatch: pytest.MonkeyPatch, url: str, reason: str
) -> None:
    monkeypatch.setenv("BOTPENGUIN_BASE_URL", url)
    with pytest.raises(ConfigurationError, match=reason) as caught:
        load_settings()
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("Invalid BotPenguin settings: BOTPENGUIN_BASE_URL")


def test_backoff_cap_below_base_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOTPENGUIN_BACKOFF_CAP", "0.1")
    with pytest.raises(ConfigurationError, match="BACKOFF_CAP"):
        load_settings()


def test_client_from_settings_without_token_is_refused() -> None:
    with pytest.raises(MissingTokenError, match="BOTPENGUIN_API_TOKEN"):
        BotPenguinClient.from_settings()


def test_settings_repr_hides_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOTPENGUIN_API_TOKEN", SECRET)
    settings = load_settings()
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert SECRET not in settings.model_dump_json()
