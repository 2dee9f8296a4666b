"""Where files and messages go: open a path or fsspec URL, and name it without its secrets.

One module for both jobs, because they must agree: exports, snapshots and notifications
show a location in logs, errors and artifacts, and URLs carry credentials in three places --
``user:password@`` before the host, query strings (an Azure SAS ``sig=``, a presigned S3
``X-Amz-Signature=``) and, for Apprise services, tokens where a host would be
(``slack://TokenA/TokenB``). Every location shown to a person passes through here.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from .errors import BotPenguinError

_USERINFO = re.compile(r"//[^/@\s]*@")


def is_url(location: str) -> bool:
    """Locations with ``://`` are URLs (fsspec or Apprise); anything else is a local path."""
    return "://" in location


def display_location(location: str) -> str:
    """``location`` without ``user:password@`` or a query string, for messages and artifacts.

    A local path is returned as it is (a ``?`` in a file name is not a query string).
    """
    if not is_url(location):
        return location
    return _USERINFO.sub("//", location.split("?", 1)[0].split("#", 1)[0])


def one_line_reason(exc: BaseException, limit: int = 300) -> str:
    """An exception as one short line without URL credentials, preferring an OS error's text."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return _USERINFO.sub("//", " ".join(text.split()))[:limit] or type(exc).__name__


def _is_network_host(host: str) -> bool:
    if host == "localhost" or "." in host:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def target_label(target: str, position: int | None = None) -> str:
    """A name for a notification target that is safe to log: ``scheme://host`` or ``block 'x'``.

    Many Apprise services keep a token where a host would be (``slack://TokenA/...``,
    ``tgram://bot-token/...``); such "hosts" are shown as ``***``. Two targets can share a
    scheme and host (only their secret paths differ), so a caller gives each such target its
    1-based ``position``, shown as ``json://127.0.0.1 (target 2)``.
    """
    where = f" (target {position})" if position is not None else ""
    if not is_url(target):
        return f"block {target!r}{where}"
    parts = urlsplit(target.strip())
    scheme = parts.scheme or target.split("://", 1)[0] or "?"
    host = parts.hostname or ""
    return f"{scheme}://{host if _is_network_host(host) else '***'}{where}"


def open_fsspec(
    location: str, error: type[BotPenguinError], action: str, fs: Any = None
) -> tuple[Any, str]:
    """fsspec's filesystem and path for ``location``, or ``error`` saying why not.

    ``action`` completes "Cannot ..." in the message (``"export to"``, ``"open state
    location"``). With ``fs`` (a filesystem block's own), only the path is worked out.
    """
    import fsspec.core

    from .._compat import strip_protocol  # Prefect-free: the pack's one list of private names

    shown = display_location(location)
    try:
        if fs is None:
            fs, path = fsspec.core.url_to_fs(location)
        else:
            path = strip_protocol(fs, location)
    except ImportError as exc:  # fsspec names the package to install, e.g. "Install s3fs ..."
        raise error(
            f"Cannot {action} {shown}: the fsspec back-end for it is not installed "
            f"({one_line_reason(exc)})."
        ) from None
    except ValueError as exc:
        raise error(
            f"Cannot {action} {shown}: {one_line_reason(exc)}; use a local path or an fsspec "
            "URL such as memory://, file://, s3://bucket/key."
        ) from None
    except Exception as exc:  # the back-end could not connect (host down, refused, no access)
        raise error(
            f"Cannot {action} {shown}: {one_line_reason(exc)}; check the URL and that the "
            "storage is reachable (nothing there was replaced)."
        ) from exc
    return fs, str(path)
