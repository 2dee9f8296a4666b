"""A thin async httpx client for the BotPenguin API. It never imports Prefect.

It owns everything HTTP: the headers BotPenguin requires, timeouts, TLS trust, the envelope
check, the translation of failures into ``.errors`` and the retry policy in ``.retry``.

Every body is parsed here, once, by ``.jsontext.read_json``: a lone surrogate escape becomes
U+FFFD and ``NaN``/``Infinity`` become ``null`` (that module says why), so every later step
(report, artifacts, exports in every format, snapshots, events) sees plain JSON data. A
warning says how many values were changed (counts only, never the values). TLS certificates
are verified against the system's trust store, ``SSL_CERT_FILE``/``SSL_CERT_DIR``, or the PEM
bundle in ``BOTPENGUIN_CA_BUNDLE`` (a corporate CA); an untrusted certificate is a
``TLSCertificateError`` at once, never retried.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import os
import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from .endpoint import DEFAULT_BASE_URL, clean_token, validate_base_url
from .errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BotPenguinError,
    ConfigurationError,
    RateLimitedError,
    RequestRejectedError,
    ResponseError,
    ServerError,
    TLSCertificateError,
)
from .jsontext import read_json
from .retry import RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    from pydantic import SecretStr

    from .models import Envelope, Segment
    from .settings import BotPenguinSettings  # loaded by from_settings only

SEGMENTS_PATH = "/inbox/segments"
# BotPenguin answers a malformed token with a MongoDB ObjectId cast error (HTTP 400).
TOKEN_FORMAT_ERROR = re.compile(r"12 bytes|24 hex characters", re.IGNORECASE)
AUTH_FIX_HINT = (
    "check BOTPENGUIN_API_TOKEN or the credentials block "
    "(BotPenguin panel: More -> Developer -> API Access Token)"
)

Logger = logging.Logger | logging.LoggerAdapter[Any]


@functools.cache
def user_agent() -> str:
    """``prefect-botpenguin/<version> httpx/<version>``, read once, on the first client.

    Not computed at import: ``importlib.metadata`` and its scan of installed packages are a
    noticeable part of importing this module (benchmarks/NOTES.md, d).
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        pack = version("prefect-botpenguin")
    except PackageNotFoundError:  # running from a source tree that is not installed
        pack = "0+unknown"
    return f"prefect-botpenguin/{pack} httpx/{httpx.__version__}"


def __getattr__(name: str) -> Any:
    """``USER_AGENT``, the same value as ``user_agent()``, computed when first read."""
    if name == "USER_AGENT":
        return user_agent()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


DIRECT_TO_LOOPBACK: dict[str, httpx.AsyncBaseTransport | None] = {
    "all://127.0.0.1": None,
    "all://localhost": None,
    "all://[::1]": None,
}
"""Mounts that keep loopback requests off any ``HTTP(S)_PROXY``: plain HTTP is allowed only
on loopback, and through a proxy the token would cross the network in clear text."""


def tls_verification(ca_bundle: str | os.PathLike[str] | None) -> ssl.SSLContext | bool:
    """httpx's ``verify``: the PEM bundle ``ca_bundle`` when given, else the default trust.

    The default is the system's (certifi's) trust store, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``
    when set. An unreadable bundle is a ``ConfigurationError``.
    """
    if ca_bundle is None or not os.fspath(ca_bundle).strip():
        return True
    path = os.fspath(ca_bundle)
    try:
        if os.path.isdir(path):
            return ssl.create_default_context(capath=path)
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not PEM"
        raise ConfigurationError(
            f"BOTPENGUIN_CA_BUNDLE {path!r} cannot be used as a CA bundle ({reason}); "
            "give the path of a PEM file with your CA's certificate(s)."
        ) from None


def _http_client(**options: Any) -> httpx.AsyncClient:
    """``httpx.AsyncClient(**options)``; a proxy it cannot use is a ``ConfigurationError``."""
    try:
        return httpx.AsyncClient(**options)
    except ImportError as exc:  # httpx needs the socksio package for socks5:// proxies
        if "socks" not in str(exc).lower():
            raise
        raise ConfigurationError(
            "A SOCKS proxy is configured (ALL_PROXY / HTTPS_PROXY = socks5://...) but SOCKS "
            "support is not installed; install it with pip install 'httpx[socks]', or unset "
            "the proxy variable."
        ) from None


def shared_http_client(
    max_connections: int,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    ca_bundle: str | os.PathLike[str] | None = None,
) -> httpx.AsyncClient:
    """One connection pool for many accounts' ``BotPenguinClient(http_client=...)``.

    It keeps up to ``max_connections`` connections open for reuse and stores no cookies, so
    a cookie one account's answer sets is never sent with another account's request. The
    caller closes it (``async with``). Timeouts come from each ``BotPenguinClient``; TLS
    trust from ``ca_bundle`` (see ``tls_verification``).
    """
    from http.cookiejar import CookieJar, DefaultCookiePolicy

    size = max(1, max_connections)
    return _http_client(
        limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        follow_redirects=False,
        transport=transport,
        mounts=DIRECT_TO_LOOPBACK,
        verify=tls_verification(ca_bundle),
    )


class _RetryableFailure(Exception):
    """Internal: one attempt failed in a way the policy may retry."""

    def __init__(
        self, error: BotPenguinError, reason: str, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason
        self.retry_after = retry_after


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
        self._http = http_client or _http_client(
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
            except _RetryableFailure as failure:
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
            raise _RetryableFailure(error, "timed out") from None
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
            raise _RetryableFailure(error, "connection failed") from None
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
            raise _RetryableFailure(error, "connection broke") from None
        try:
            return self._check(response, method, path)
        finally:
            _release(response)

    def _check(self, response: httpx.Response, method: str, path: str) -> Envelope:
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
            return self._envelope(response, what)
        api_message = self._api_message(response)
        if status in (401, 403) or (status == 400 and TOKEN_FORMAT_ERROR.search(api_message)):
            raise self._auth_error(status, api_message)
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            limit = self.retry_policy.max_retry_after
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
            raise _RetryableFailure(limited, "HTTP 429", retry_after)
        if status >= 500:
            error = ServerError(
                f"{what}: server error HTTP {status} {response.reason_phrase}"
                f"{_detail(api_message)}; BotPenguin may be down, try again later.",
                status_code=status,
            )
            raise _RetryableFailure(error, f"HTTP {status}")
        if status >= 400:
            raise RequestRejectedError(
                f"{what}: refused with HTTP {status} {response.reason_phrase}"
                f"{_detail(api_message)}; check BOTPENGUIN_BASE_URL and the request.",
                status_code=status,
            )
        return self._envelope(response, what)

    def _envelope(self, response: httpx.Response, what: str) -> Envelope:
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
            self.logger.warning(
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
        message = _one_line(self._redact(_message_text(envelope.message, envelope.data)))
        if code in (401, 403) or TOKEN_FORMAT_ERROR.search(message):
            raise self._auth_error(code or status, message)
        error = ResponseError(
            f"{what}: BotPenguin reported failure{_detail(message)} (code {code}).",
            status_code=status,
            retryable=code in RETRYABLE_ENVELOPE_CODES,
        )
        if error.retryable:
            raise _RetryableFailure(error, f"success=false with code {code}")
        raise error

    def _auth_error(self, status: int, api_message: str) -> AuthenticationError:
        if TOKEN_FORMAT_ERROR.search(api_message):
            problem = "says the API token is malformed"
        else:
            reason = f": {api_message}" if api_message else ""
            problem = f"rejected the API token (HTTP {status}{reason})"
        return AuthenticationError(f"BotPenguin {problem}; {AUTH_FIX_HINT}.", status_code=status)

    def _api_message(self, response: httpx.Response) -> str:
        """The API's own explanation from an error body, one line, token removed."""
        try:
            payload = read_json(response.content)[0]
        except ValueError:
            return ""
        if not isinstance(payload, dict):
            return ""
        return _one_line(self._redact(_message_text(payload.get("message"), payload.get("data"))))

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


def _release(response: httpx.Response) -> None:
    """Let the response (and its body) go as soon as it is parsed.

    An httpx ``Response`` and its stream refer to each other, so without this every answer
    -- a whole page of contacts in a member listing -- waits for Python's next full garbage
    collection; over a long listing those pages pile up (benchmarks/NOTES.md, e).
    """
    response.stream = httpx.ByteStream(b"")


def _detail(message: str) -> str:
    return f" ({message})" if message else ""


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
