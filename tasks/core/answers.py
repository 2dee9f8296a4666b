"""Reading one BotPenguin answer: the envelope, or the error it amounts to.

Why apart from the client: the client decides when to send and when to retry; this decides
what an answer means -- success, a refused token, a rate limit and how long to wait, a
server error, a body that is not JSON -- with messages a user can act on and the token
removed from any text the API echoes. Never imports Prefect.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from .errors import (
    AuthenticationError,
    BotPenguinError,
    RateLimitedError,
    RequestRejectedError,
    ResponseError,
    ServerError,
)
from .jsontext import read_json
from .retry import parse_retry_after

if TYPE_CHECKING:
    from .models import Envelope

# BotPenguin answers a malformed token with a MongoDB ObjectId cast error (HTTP 400).
TOKEN_FORMAT_ERROR = re.compile(r"12 bytes|24 hex characters", re.IGNORECASE)
AUTH_FIX_HINT = (
    "check BOTPENGUIN_API_TOKEN or the credentials block "
    "(BotPenguin panel: More -> Developer -> API Access Token)"
)

Logger = logging.Logger | logging.LoggerAdapter[Any]


class RetryableFailure(Exception):
    """One attempt failed in a way the policy may retry."""

    def __init__(
        self, error: BotPenguinError, reason: str, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason
        self.retry_after = retry_after


def read_answer(
    response: httpx.Response,
    method: str,
    path: str,
    *,
    redact: Callable[[str], str],
    max_retry_after: float,
    logger: Logger,
) -> Envelope:
    """Map one HTTP response to an envelope or to the right error."""
    status = response.status_code
    what = f"BotPenguin {method} {path}"
    if response.is_redirect:
        location = httpx.URL(response.headers.get("location", "")).host or "another path"
        raise RequestRejectedError(
            f"{what} was redirected (HTTP {status}) to {location}; set BOTPENGUIN_BASE_URL "
            "to the API host itself (the token is never sent to a redirect target).",
            status_code=status,
        )
    if response.is_success:  # parse a success body once, not also for an error message
        return _envelope(response, what, redact, logger)
    api_message = _api_message(response, redact)
    if status in (401, 403) or (status == 400 and TOKEN_FORMAT_ERROR.search(api_message)):
        raise auth_error(status, api_message)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        limit = max_retry_after
        if retry_after is not None and retry_after > limit:
            too_long = RateLimitedError(
                f"{what}: rate limited and asked to wait {retry_after:.0f}s, longer than "
                f"BOTPENGUIN_MAX_RETRY_AFTER ({limit:.0f}s); try again later or raise it.",
                status_code=status,
            )
            # The API said when to come back: a task retry 10 s later would ignore that.
            too_long.retryable = False
            raise too_long
        limited: BotPenguinError = RateLimitedError(
            f"{what}: still rate limited (HTTP 429); try again later.", status_code=status
        )
        raise RetryableFailure(limited, "HTTP 429", retry_after)
    if status >= 500:
        error = ServerError(
            f"{what}: server error HTTP {status} {response.reason_phrase}"
            f"{_detail(api_message)}; BotPenguin may be down, try again later.",
            status_code=status,
        )
        raise RetryableFailure(error, f"HTTP {status}")
    if status >= 400:
        raise RequestRejectedError(
            f"{what}: refused with HTTP {status} {response.reason_phrase}"
            f"{_detail(api_message)}; check BOTPENGUIN_BASE_URL and the request.",
            status_code=status,
        )
    return _envelope(response, what, redact, logger)


def _envelope(
    response: httpx.Response, what: str, redact: Callable[[str], str], logger: Logger
) -> Envelope:
    # The models (pydantic's model machinery) load with the first answer, not with this
    # module: importing the client costs about what httpx and pydantic do (NOTES.md, d).
    from .models import RETRYABLE_ENVELOPE_CODES, parse_envelope

    status = response.status_code
    try:
        payload, surrogates, constants = read_json(response.content)
    except ValueError:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        raise ResponseError(
            f"{what}: HTTP {status} with a body that is not JSON ({kind}, "
            f"{len(response.content)} bytes); check BOTPENGUIN_BASE_URL points at the API.",
            status_code=status,
        ) from None
    if surrogates or constants:
        logger.warning(
            "%s: read %d lone surrogate escape(s) as U+FFFD and %d NaN/Infinity value(s) "
            "as null (JSON cannot hold them)",
            what,
            surrogates,
            constants,
        )
    envelope = parse_envelope(payload, status_code=status)
    if envelope.success:
        return envelope
    code = envelope.code
    message = _one_line(redact(_message_text(envelope.message, envelope.data)))
    if code in (401, 403) or TOKEN_FORMAT_ERROR.search(message):
        raise auth_error(code or status, message)
    error = ResponseError(
        f"{what}: BotPenguin reported failure{_detail(message)} (code {code}).",
        status_code=status,
        retryable=code in RETRYABLE_ENVELOPE_CODES,
    )
    if error.retryable:
        raise RetryableFailure(error, f"success=false with code {code}")
    raise error


def auth_error(status: int, api_message: str) -> AuthenticationError:
    """The right message for a refused token: malformed, or rejected with the API's reason."""
    if TOKEN_FORMAT_ERROR.search(api_message):
        problem = "says the API token is malformed"
    else:
        reason = f": {api_message}" if api_message else ""
        problem = f"rejected the API token (HTTP {status}{reason})"
    return AuthenticationError(f"BotPenguin {problem}; {AUTH_FIX_HINT}.", status_code=status)


def _api_message(response: httpx.Response, redact: Callable[[str], str]) -> str:
    """The API's own explanation from an error body, one line, token removed."""
    try:
        payload = read_json(response.content)[0]
    except ValueError:
        return ""
    if not isinstance(payload, dict):
        return ""
    return _one_line(redact(_message_text(payload.get("message"), payload.get("data"))))


def _message_text(message: Any, data: Any) -> str:
    if isinstance(message, str) and message.strip():
        return message
    for candidate in (message, data):
        if isinstance(candidate, list) and all(isinstance(m, str) for m in candidate):
            return "; ".join(candidate)
    return ""


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _detail(message: str) -> str:
    return f" ({message})" if message else ""
