"""The one place the pack touches private names, each with the reason it has no public twin.

The pack supports every Prefect from 3.4.25 to the newest (docs/prefect-versions.md), so a
private name is a risk: it may move in any release. Keeping them here means one module to
check when Prefect changes; tests/test_private_names.py fails when any other module of the
pack imports ``prefect._internal`` or reads a private attribute. Each function imports what
it needs when called, so the core (which never loads Prefect) may use the fsspec one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, get_type_hints, overload

if TYPE_CHECKING:
    from prefect.blocks.core import Block
    from prefect.filesystems import LocalFileSystem, RemoteFileSystem

PRIVATE_NAMES: dict[str, str] = {
    "prefect._internal.compatibility.async_dispatch.is_in_async_context": (
        "the rule Prefect's own dual sync/async functions use to pick a twin (run context's "
        "isasync, else a running loop); public only as the async_dispatch decorator, whose "
        "wrapper loses a task's with_options, submit and map."
    ),
    "prefect.filesystems.LocalFileSystem._resolve_path / RemoteFileSystem._resolve_path": (
        "the block's own base-path join and containment check; copying it would let an "
        "export escape a base path the way Prefect forbids."
    ),
    "prefect.blocks.core.Block._block_document_name": (
        "the name a loaded or saved block was stored under; Prefect has no public accessor, "
        "and block references in events and notifications are built from it."
    ),
    "prefect.blocks.core.Block._is_anonymous": (
        "tells a block saved by name from one Prefect stored anonymously for a run; an "
        "anonymous block cannot be loaded again by name."
    ),
    "fsspec.spec.AbstractFileSystem._strip_protocol": (
        "a block's own fsspec filesystem turns a URL into its path; fsspec.core.url_to_fs "
        "would build a second filesystem without the block's settings."
    ),
}


def is_in_async_context() -> bool:
    """True in an async flow or task, or under a running event loop: Prefect's own rule."""
    from prefect._internal.compatibility.async_dispatch import (
        is_in_async_context as prefect_rule,
    )

    return prefect_rule()


@overload
def resolve_path(filesystem: LocalFileSystem, path: str) -> Path: ...
@overload
def resolve_path(filesystem: RemoteFileSystem, path: str) -> str: ...
def resolve_path(filesystem: LocalFileSystem | RemoteFileSystem, path: str) -> Path | str:
    """``path`` inside the block's base path, checked by the block (ValueError outside it).

    Prefect 3.4's ``LocalFileSystem._resolve_path`` checks the base path only when asked
    (``validate=True``) and leaves ``..`` unresolved; newer ones always check. The same check
    is made here on every version, so a path never leaves the block's base path.
    """
    from prefect.filesystems import LocalFileSystem

    if isinstance(filesystem, LocalFileSystem):
        local = Path(filesystem._resolve_path(path)).resolve()
        base = Path(filesystem.basepath or ".").expanduser().resolve()
        if local != base and base not in local.parents:
            raise ValueError(f"Provided path {local} is outside of the base path {base}.")
        return local
    remote: str = filesystem._resolve_path(path)
    return remote


def block_document_name(block: Block) -> str | None:
    """The name the block was saved or loaded under; None for a block never saved."""
    return block._block_document_name


def saved_block_name(block: Block) -> str | None:
    """The block's name when it can be loaded again by it: saved, and not anonymously."""
    if block._is_anonymous:
        return None
    return block._block_document_name or None


def strip_protocol(fs: Any, location: str) -> str:
    """``location`` as a path of ``fs`` (an fsspec filesystem), by that filesystem's rules."""
    path: str = fs._strip_protocol(location)
    return path


F = TypeVar("F", bound=Callable[..., Any])


def eager_annotations(fn: F) -> F:
    """``fn`` with its string annotations resolved, for ``@flow`` on every supported Prefect.

    Under ``from __future__ import annotations`` a parameter's type is a string; Prefect
    before 3.5 validates flow parameters without the function's globals, so an alias such as
    ``CredentialsParam`` is "not fully defined" and every run fails. Public API, no private
    name: kept here because it exists for the oldest Prefects only.
    """
    fn.__annotations__ = get_type_hints(fn, include_extras=True)
    return fn


def event_too_large_errors() -> tuple[type[Exception], ...]:
    """The exception ``emit_event`` raises for an oversized event; none before Prefect 3.5.

    Older Prefects check no size on the client, so there is nothing to catch (an empty
    tuple catches nothing) and the smaller retry is switched off. Public API, new in 3.5.
    """
    try:
        from prefect.exceptions import EventTooLarge
    except ImportError:
        return ()
    return (EventTooLarge,)


async def read_event_ids(client: Any, event_filter: Any, limit: int) -> set[Any]:
    """Ids of the events the API returns for ``event_filter`` (``POST /events/filter``).

    ``PrefectClient.read_events`` is new in Prefect 3.5; before it the same route is called
    through the client's public ``request``. Either way the server's own filter applies.
    """
    if hasattr(client, "read_events"):
        page = await client.read_events(event_filter, limit=limit)
        return {event.id for event in page.events}
    body = {"filter": event_filter.model_dump(mode="json"), "limit": limit}
    response = await client.request("POST", "/events/filter", json=body)
    response.raise_for_status()
    from uuid import UUID

    return {UUID(event["id"]) for event in response.json()["events"]}
