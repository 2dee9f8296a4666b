"""Help text that several flows give the same parameter, written once.

Prefect's run form takes a flow parameter's help from the Args of the flow's docstring, and
the API pages render the same Args. So a flow writes ``credentials: {CREDENTIALS_HELP}``
there, and the text below goes in twice, alike: ``shared_help`` at import (before ``@flow``
reads the docstring) and the docs' griffe extension (``docs/source_tree.py:SharedHelp``,
which reads this file without importing it). A description given once in an ``Annotated``
alias would not do: Prefect passes every parameter's docstring description, even an absent
one, which replaces the alias's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

SHARED_HELP = {
    "CREDENTIALS_HELP": (
        "A saved BotPenguin Credentials block (pick one; its name also works). Leave empty to "
        "use the BOTPENGUIN_API_TOKEN and BOTPENGUIN_BASE_URL environment variables."
    ),
    "FORMAT_HELP": (
        "File format (csv, json, jsonl or parquet). Leave empty to take it from the "
        "destination's extension."
    ),
    "FILESYSTEM_HELP": (
        "A saved filesystem block to write into (pick one, or give BLOCK-TYPE/NAME such as "
        "local-file-system/exports). Leave empty to write to the destination directly."
    ),
    "PARTNER_FROM_ENV_HELP": (
        "Use BOTPENGUIN_API_TOKEN and BOTPENGUIN_BASE_URL as the partner's credentials "
        "instead of a block."
    ),
    "RATE_LIMIT_HELP": (
        "Name of a Prefect global concurrency limit with slot decay that paces every API "
        "call. Leave empty for none."
    ),
    "SHARD_DEPLOYMENT_HELP": (
        "The shard flow's deployment (FLOW/DEPLOYMENT, e.g. "
        "botpenguin-fanout-shard/fanout-shard): shards run on its work pool's workers. Leave "
        "empty to run the shards in this process."
    ),
    "SHARD_ATTEMPTS_HELP": "Runs per shard at most: a crashed or failed shard runs again.",
    "SHARD_TIMEOUT_HELP": (
        "Seconds the run waits for its shards at most; a shard still running then counts as "
        "failed. Leave empty to wait until every shard ends."
    ),
}
"""Each shared description by the name a docstring gives it in braces."""


def fill_shared_help(docstring: str) -> str:
    """``docstring`` with every ``{NAME}`` of ``SHARED_HELP`` replaced by its text."""
    for name, text in SHARED_HELP.items():
        docstring = docstring.replace("{" + name + "}", text)
    return docstring


def shared_help(fn: F) -> F:
    """``fn`` with the shared descriptions filled into its docstring's Args."""
    fn.__doc__ = fill_shared_help(fn.__doc__ or "")
    return fn
