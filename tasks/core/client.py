"""A thin async httpx client for the BotPenguin API. It never imports Prefect.

It owns the requests: the headers BotPenguin requires, timeouts, the translation of transport
failures into ``.errors`` and the retry policy in ``.retry``. The pool, proxies and TLS
trust are in ``.connection``; what an answer means (envelope, refusals, rate limits) is in
``.answers``.

Every body is parsed once, by ``.jsontext.read_json`` (in ``.answers``): a lone surrogate
escape becomes U+FFFD and ``NaN``/``Infinity`` become ``null`` (that module says why), so every
later step (report, artifacts, exports in every format, snapshots, events) sees plain JSON
data. A warning says how many values were changed (counts only, never the values). TLS
certificates are verified against the system's trust store, ``SSL_CERT_FILE``/``SSL_CERT_DIR``,
or the PEM bundle in ``BOTPENGUIN_CA_BUNDLE`` (a corporate CA); an untrusted certificate is a
``TLSCertificateError`` at once, never retried.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from .answers import Logger, RetryableFailure, read_answer
from .connection import DIRECT_TO_LOOPBACK, shared_http_client, tls_verification, user_agent
from .connection import http_client as make_http_client
from .endpoint import DEFAULT_BASE_URL, clean_token, validate_base_url
from .errors import (
    APIConnectionError,
    APITimeoutError,
    BotPenguinError,
    ResponseError,
    TLSCertificateError,
)
from .retry import RetryPolicy

if TYPE_CHECKING:
    from pydantic import SecretStr

    from .models import Envelope, Segment
    from .settings import BotPenguinSettings  # loaded by from_settings only

SEGMENTS_PATH = "/inbox/segments"


def __getattr__(name: str) -> Any:
    """``USER_AGENT`` (see ``.connection``), computed when first read."""
    if name == "USER_AGENT":
        return user_agent()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class BotPenguinClient:
    """Calls the BotPenguin API with the required headers, one retry policy and clear errors.

    Use it as ``async with BotPenguinClient(token) as client: await client.get_segments()``.
    ``sleep``, ``clock`` and ``random`` are injectable so tests can check waits without waiting.
    ``http_client`` (see ``shared_http_client``) lets many accounts share one connection pool:
    each request still carries this client's own token, timeouts and no-redirect rule, and
    the caller, not this client, closes the shared pool (and sets its TLS trust).
    ``ca_bundle`` is a PEM file (or directory) of CA certificates to trust instead of the
    default store, e.g. a corporate CA (``BOTPENGUIN_CA_BUNDLE``).
    """

    def __init__(
        self,
        api_token: SecretStr | str | None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        retry_policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        logger: Logger | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = random.random,
    ) -> None:
        # pydantic's types load with the first client, not with this module (NOTES.md, d).
        from pydantic import SecretStr

        token = api_token.get_secret_value() if isinstance(api_token, SecretStr) else api_token
        self._token = SecretStr(clean_token(token))
        self.base_url = validate_base_url(base_url)
        self.retry_policy = retry_policy or RetryPolicy()
        self.logger: Logger = logger or logging.getLogger("botpenguin")
        self._sleep = sleep
        self._clock = clock
        self._random = random
        # Sent with every request rather than set on the pool, so a shared pool never mixes
        # one account's token into another's requests.
        self._headers = {
            "Authorization": f"Bearer {self._token.get_secret_value()}",
            "authtype": "Key",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": user_agent(),
        }
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        if http_client is not None and transport is not None:
            raise TypeError("give BotPenguinClient a transport or an http_client, not both")
        self._owns_http = http_client is None
        self._http = http_client or make_http_client(
            timeout=self._timeout,
            follow_redirects=False,
            transport=transport,
            verify=tls_verification(ca_bundle),
            mounts=DIRECT_TO_LOOPBACK,
        )

    @classmethod
    def from_settings(
        cls, settings: BotPenguinSettings | None = None, **overrides: Any
    ) -> BotPenguinClient:
        """Build a client from ``BOTPENGUIN_*`` settings; keyword ``overrides`` win."""
        from .settings import load_settings

        settings = settings or load_settings()
        options: dict[str, Any] = {
            "base_url": settings.base_url,
            "connect_timeout": settings.connect_timeout,
            "read_timeout": settings.read_timeout,
            "retry_policy": RetryPolicy.from_settings(settings),
            **overrides,
        }
        if "http_client" not in options:  # a shared pool brings its own TLS trust
            options.setdefault("ca_bundle", settings.ca_bundle)
        token = options.pop("api_token", settings.api_token)
        return cls(token, **options)

    def __repr__(self) -> str:
        return f"BotPenguinClient(base_url={self.base_url!r}, api_token=SecretStr('**********'))"

    async def __aenter__(self) -> BotPenguinClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool, unless it was shared in (its owner closes it)."""
        if self._owns_http:
            await self._http.aclose()

    async def get_segments(self) -> list[Segment]:
        """``GET /inbox/segments``: every segment of the account, unknown fields kept."""
        from .models import parse_segments  # see _envelope

        envelope = await self.request("GET", SEGMENTS_PATH)
        return parse_segments(envelope.data)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> Envelope:
        """Send one API call under the retry policy and return its successful envelope."""
        policy = self.retry_policy
        started = self._clock()
        for attempt in range(1, policy.max_attempts + 1):
            remaining = policy.deadline - (self._clock() - started)
            try:
                return await self._attempt(method, path, params, json, remaining)
            except RetryableFailure as failure:
                elapsed = self._clock() - started
                if attempt == policy.max_attempts:
                    raise _give_up(failure.error, attempt, elapsed) from None
                wait = failure.retry_after
                if wait is None:
                    wait = policy.backoff(attempt, self._random)
                if elapsed + wait >= policy.deadline:
                    raise _give_up(failure.error, attempt, elapsed, deadline=True) from None
                self.logger.warning(
                    "BotPenguin %s %s: %s; retry %d of %d in %.2fs",
                    method,
                    path,
                    failure.reason,
                    attempt,
                    policy.max_attempts - 1,
                    wait,
                )
                await self._sleep(wait)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        json: Any,
        remaining: float,
    ) -> Envelope:
        target = f"{self.base_url}{path}"
        try:
            async with asyncio.timeout(max(remaining, 0.001)):
                response = await self._http.request(
                    method,
                    target,
                    params=params,
                    json=json,
                    headers=self._headers,
                    timeout=self._timeout,
                    follow_redirects=False,  # a redirect must never carry the token elsewhere
                )
        except (httpx.TimeoutException, TimeoutError):
            error: BotPenguinError = APITimeoutError(
                f"BotPenguin at {target} did not answer in time; check the network or raise "
                "BOTPENGUIN_READ_TIMEOUT / BOTPENGUIN_DEADLINE."
            )
            raise RetryableFailure(error, "timed out") from None
        except httpx.ConnectError as exc:
            problem = _certificate_problem(exc)
            if problem is not None:  # retrying cannot make a certificate trusted
                raise TLSCertificateError(
                    f"The TLS certificate of {self.base_url} is not trusted ({problem}); if "
                    "your network inspects TLS with its own CA, set BOTPENGUIN_CA_BUNDLE (or "
                    "SSL_CERT_FILE) to that CA's PEM file. Nothing was sent."
                ) from None
            error = APIConnectionError(
                f"Cannot connect to BotPenguin at {self.base_url}; check BOTPENGUIN_BASE_URL "
                "and that the host is reachable."
            )
            raise RetryableFailure(error, "connection failed") from None
        except httpx.DecodingError:
            raise ResponseError(
                f"BotPenguin's answer to {method} {path} could not be decoded (its "
                "Content-Encoding does not match the body); a proxy between here and "
                f"{httpx.URL(self.base_url).host} may be altering it."
            ) from None
        except httpx.TransportError as exc:
            error = APIConnectionError(
                f"The connection to BotPenguin at {self.base_url} broke before the whole "
                f"answer arrived ({type(exc).__name__}); try again later."
            )
            raise RetryableFailure(error, "connection broke") from None
        try:
            return read_answer(
                response,
                method,
                path,
                redact=self._redact,
                max_retry_after=self.retry_policy.max_retry_after,
                logger=self.logger,
            )
        finally:
            _release(response)

    def _redact(self, text: str) -> str:
        """Remove the token in case the API ever echoes it back in a message."""
        return text.replace(self._token.get_secret_value(), "**********")


def _certificate_problem(exc: BaseException) -> str | None:
    """Why TLS refused the server's certificate, if that is what ``exc`` came from."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause.verify_message or "certificate verify failed"
        cause = cause.__cause__ or cause.__context__
    return None


def _release(response: httpx.Response) -> None:
    """Let the response (and its body) go as soon as it is parsed.

    An httpx ``Response`` and its stream refer to each other, so without this every answer
    -- a whole page of contacts in a member listing -- waits for Python's next full garbage
    collection; over a long listing those pages pile up (benchmarks/NOTES.md, e).
    """
    response.stream = httpx.ByteStream(b"")


def _give_up(
    error: BotPenguinError, attempts: int, elapsed: float, *, deadline: bool = False
) -> BotPenguinError:
    """The last attempt's error, its message extended with what the policy already tried."""
    why = "the next wait would pass BOTPENGUIN_DEADLINE" if deadline else "no attempts left"
    final = copy.copy(error)
    final.message = (
        f"{error.message.rstrip('.')} (gave up after {attempts} request"
        f"{'s' if attempts != 1 else ''} in {elapsed:.1f}s: {why})."
    )
    final.args = (final.message,)
    return final


__all__ = [
    "SEGMENTS_PATH",
    "BotPenguinClient",
    "Logger",
    "shared_http_client",
    "tls_verification",
    "user_agent",
]
