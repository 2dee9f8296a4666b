"""The HTTP connection side of the client: TLS trust, proxies, the pool, the User-Agent.

Why apart from the client: a fan-out shares one pool (``shared_http_client``) among many
accounts' clients, and each client builds its own the same way; both need the same proxy,
TLS and cookie rules, and none of it depends on what an answer says. Never imports Prefect.
"""

from __future__ import annotations

import functools
import os
import ssl
from typing import Any

import httpx

from .errors import ConfigurationError


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


def http_client(**options: Any) -> httpx.AsyncClient:
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
    return http_client(
        limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        follow_redirects=False,
        transport=transport,
        mounts=DIRECT_TO_LOOPBACK,
        verify=tls_verification(ca_bundle),
    )
