"""An account's error line (fan-out engine and members shards): one line, never a token even
when a library quotes it."""

from __future__ import annotations

from pydantic import SecretStr

from prefect_botpenguin.core.errors import BotPenguinError
from prefect_botpenguin.core.fanout import account_error_line

ACCOUNT = "acct-token-0123456789abcdef"  # invented
PARTNER = "partner-token-fedcba9876543210"  # invented


def test_an_unexpected_error_quoting_a_token_is_one_line_with_the_token_masked() -> None:
    exc = RuntimeError(f"boom on Bearer {ACCOUNT}\nwhile asking for {PARTNER}")
    line = account_error_line(exc, [SecretStr(ACCOUNT), SecretStr(PARTNER), None])
    assert line == "unexpected RuntimeError: boom on Bearer ********** while asking for **********"


def test_a_pack_error_keeps_its_own_message() -> None:
    line = account_error_line(BotPenguinError("HTTP 401: token refused"))
    assert line == "HTTP 401: token refused"
