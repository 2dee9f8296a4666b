"""Exports as Prefect asset materializations: lineage from a BotPenguin account to each file.

Every file an export writes is recorded as a materialization of an asset whose key is the
file's location, with the account it came from as the upstream asset, so Prefect shows
"account -> exported file" (the Assets page of Prefect Cloud draws it; any Prefect server
stores the ``prefect.asset.*`` events, which the event feed shows and automations can match).

Keys (Prefect requires a URI with a lowercase scheme, at most 512 characters, none of
``RESTRICTED_ASSET_CHARACTERS``):

- a local file: ``file:///abs/path/segments.csv`` (the worker's path, not percent-encoded);
- an fsspec URL: the URL without credentials or query (``s3://bucket/key.parquet``);
- a path inside another filesystem block (e.g. an ``S3Bucket``):
  ``block://<block-type>/<block-name>/<path>``;
- the account: ``botpenguin://<api-host>/<account-slug>/segments`` (``/members`` for member
  exports): the API host and the account's slug, never a token.

A character Prefect does not allow in a key (a space, ``%``, ``#``, quotes, brackets, ...)
becomes ``_``; a key longer than 512 characters keeps its start and ends in a hash of the rest.

Why a small materializing task per export rather than ``@materialize`` on the export task:
the key is known only once the destination is resolved at run time, and ``@materialize``
records a *failed* materialization when its task fails. The export task runs
``materialize(file, asset_deps=[account])`` as a child task only after the file is complete,
so a failed export records no materialization at all.
"""

from __future__ import annotations

import hashlib
import socket
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from prefect import get_run_logger
from prefect.artifacts import acreate_link_artifact
from prefect.assets import Asset, AssetProperties, add_asset_metadata, materialize
from prefect.cache_policies import NO_CACHE
from prefect.types.names import MAX_ASSET_KEY_LENGTH, RESTRICTED_ASSET_CHARACTERS

from .core.accounts import account_slug
from .core.locations import display_location, one_line_reason
from .core.settings import DEFAULT_BASE_URL

MATERIALIZED_BY = "prefect-botpenguin"
"""Shown as the tool that materialized each export (related resource ``asset-materialized-by``)."""
RECORD_TASK_NAME = "record-botpenguin-export-asset"
"""The child task run that records a complete export's materialization."""
ACCOUNT_SCHEME = "botpenguin"
BLOCK_SCHEME = "block"
Kind = Literal["segments", "members"]


def asset_key(location: str) -> str:
    """``location`` (a URI) as a valid Prefect asset key; see this module's docstring."""
    key = "".join("_" if char in RESTRICTED_ASSET_CHARACTERS else char for char in location)
    if len(key) > MAX_ASSET_KEY_LENGTH:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        key = f"{key[: MAX_ASSET_KEY_LENGTH - len(digest) - 1]}-{digest}"
    return key


def file_asset_key(uri: str) -> str:
    """The key of a local file, from its ``file://`` URI (``Path.as_uri()``), without ``%XX``."""
    return asset_key(unquote(uri))


def url_asset_key(url: str) -> str:
    """The key of an fsspec URL: no credentials or query; a chained URL's last target."""
    shown = display_location(url).rsplit("::", 1)[-1]
    scheme, sep, rest = shown.partition("://")
    return asset_key(f"{scheme.lower()}{sep}{rest}")


def block_asset_key(block_type: str, block_name: str | None, path: str) -> str:
    """The key of ``path`` inside a filesystem block (one Prefect cannot resolve to a URL)."""
    return asset_key(f"{BLOCK_SCHEME}://{block_type}/{block_name or 'unsaved'}/{path.lstrip('/')}")


def api_host(source: str | None) -> str:
    """The API's ``host[:port]``, lowercase, from its base URL (default: the settings')."""
    if source is None:
        source = _settings_base_url()
    parts = urlsplit(source)
    host = (parts.hostname or "unknown-host").lower()
    return f"{host}:{parts.port}" if parts.port else host


def _settings_base_url() -> str:
    from .core.settings import BotPenguinSettings

    try:
        return BotPenguinSettings().base_url
    except Exception:  # an invalid setting fails the fetch, not the lineage
        return DEFAULT_BASE_URL


def account_asset(account: str, source: str | None, kind: Kind = "segments") -> Asset:
    """The upstream asset of an export: one BotPenguin account's segments (or members)."""
    host = api_host(source)
    what = "segments" if kind == "segments" else "segment members (contacts)"
    return Asset(
        key=asset_key(f"{ACCOUNT_SCHEME}://{host}/{account_slug(account)}/{kind}"),
        properties=AssetProperties(
            name=f"BotPenguin {kind}: {account}",
            description=f"The {what} of BotPenguin account {account!r}, read from {host}.",
        ),
    )


def export_asset(key: str, name: str, description: str) -> Asset:
    """The asset of one exported file."""
    return Asset(key=key, properties=AssetProperties(name=name, description=description))


def worker_host() -> str:
    """This machine's host name: where a local export lives."""
    return socket.gethostname() or "unknown"


def is_on_worker(url: str) -> bool:
    """True for a location only the machine (or process) that wrote it can open."""
    return url.startswith(("file://", "memory://"))


def link_text(destination: str, url: str) -> str:
    """The link artifact's text: the location, saying plainly when it is on the worker."""
    if url.startswith("file://"):
        return f"{destination} (a path on the worker machine {worker_host()!r})"
    if url.startswith("memory://"):
        return f"{destination} (in the memory of the process that ran it on {worker_host()!r})"
    return destination


def where_note(url: str) -> str:
    """A sentence for the link artifact's description when the file is not shared storage."""
    if not is_on_worker(url):
        return ""
    return (
        f" The file is on the machine that ran the flow ({worker_host()}), not on shared "
        "storage: open it there, or export to shared storage (s3://..., a filesystem block) "
        "to get a link anyone can open."
    )


async def acreate_export_link(destination: str, link: str, key: str, description: str) -> None:
    """The link artifact every export leaves: its location in plain words, and
    ``description`` followed by a note when the file stays on the worker (``where_note``)."""
    await acreate_link_artifact(
        link=link,
        link_text=link_text(destination, link),
        key=key,
        description=f"{description}{where_note(link)}",
    )


async def arecord_materialization(
    assets: list[tuple[Asset, dict[str, Any]]], upstream: Asset
) -> None:
    """Record each ``(asset, metadata)`` as materialized from ``upstream``: one child task.

    Called only after the files are complete. Metadata holds counts and the format, never a
    token or a contact. Recording is bookkeeping: if Prefect cannot record it, the export
    (already written) still succeeds and a warning says so.
    """
    if not assets:
        return

    async def record() -> None:
        for asset, metadata in assets:
            add_asset_metadata(asset, metadata)

    task = materialize(
        *(asset for asset, _ in assets),
        by=MATERIALIZED_BY,
        name=RECORD_TASK_NAME,
        asset_deps=[upstream],
        tags=["botpenguin"],
        cache_policy=NO_CACHE,
        persist_result=False,
    )(record)
    try:
        await task()
    except Exception as exc:
        get_run_logger().warning(
            "Could not record the export as a Prefect asset materialization (%s); the export "
            "itself is complete.",
            one_line_reason(exc),
        )
