"""Where a fan-out's accounts come from: saved blocks, a partner, and references to them.

The one-process fan-out loads every block and lets the engine list the partner's
customers. A sharded one lists them first (``account_refs``) so it can split them, and
hands each shard references only: block names and customer ids, never a token.
"""

from __future__ import annotations

import asyncio

from .._compat import saved_block_name
from ..core.client import BotPenguinClient
from ..core.errors import BotPenguinError, ConfigurationError, MissingTokenError
from ..core.fanout import AccountOutcome, FanoutAccount
from ..core.partner import iter_customers
from ..core.settings import load_settings
from ..core.shards import AccountRef, unique_file_keys
from ..credentials import BotPenguinCredentials
from .common import resolve_account


def check_sources(
    credentials_blocks: list[str] | None,
    partner_credentials: object,
    partner_from_env: bool,
    *,
    verb: str,
) -> None:
    """Refuse a fan-out with no account source, or with two partners, before any request."""
    if not (credentials_blocks or partner_credentials or partner_from_env):
        raise ConfigurationError(
            f"Nothing to {verb}: name credentials_blocks, a partner_credentials block, "
            "or set partner_from_env."
        )
    if partner_credentials and partner_from_env:
        raise ConfigurationError("Give partner_credentials or partner_from_env, not both.")


async def partner_account(block: BotPenguinCredentials | str | None) -> FanoutAccount:
    """The partner's account from its block, else from ``BOTPENGUIN_*`` settings."""
    account = await resolve_account(block, None)
    if account.credentials is not None:
        token = account.credentials.api_token
    else:
        settings_token = load_settings().api_token
        if settings_token is None or not settings_token.get_secret_value().strip():
            raise MissingTokenError(
                "partner_from_env is set but BOTPENGUIN_API_TOKEN is empty; set it to the "
                "partner's API token."
            )
        token = settings_token
    return FanoutAccount(label=account.label, token=token, base_url=account.source)


async def load_accounts(names: list[str]) -> tuple[list[FanoutAccount], list[AccountOutcome]]:
    """Load every named block at once; a block that cannot be loaded is a failed account."""
    loaded = await asyncio.gather(
        *(resolve_account(name, None) for name in names), return_exceptions=True
    )
    accounts: list[FanoutAccount] = []
    unusable: list[AccountOutcome] = []
    for name, result in zip(names, loaded, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result  # cancellation and interrupts are not an account's failure
            unusable.append(AccountOutcome(label=name, error=one_line(result)))
        elif result.credentials is not None:
            accounts.append(
                FanoutAccount(
                    label=name, token=result.credentials.api_token, base_url=result.source
                )
            )
    return accounts, unusable


async def account_refs(
    credentials_blocks: list[str], partner: FanoutAccount | None
) -> list[AccountRef]:
    """Every account by reference: the blocks by name, then each customer the partner lists.

    Labels are made unique as the one-process fan-out makes them ("Name (customer id)" for a
    repeated name), and so are file names, so shards never write over each other.
    """
    refs = [AccountRef(label=name, block=name) for name in dict.fromkeys(credentials_blocks)]
    if partner is not None:
        labels = {ref.label for ref in refs}
        client = BotPenguinClient.from_settings(api_token=partner.token, base_url=partner.base_url)
        async with client:
            async for page in iter_customers(client):
                for customer in page:
                    label = customer.label
                    if label in labels:
                        label = f"{label} ({customer.id})"
                    labels.add(label)
                    refs.append(AccountRef(label=label, customer_id=customer.id))
    return unique_file_keys(refs)


def block_reference(block: object, what: str) -> str | None:
    """A block parameter as a shard can take it: its name (``type/name`` for a filesystem)."""
    if block is None or isinstance(block, str):
        return block or None
    name = saved_block_name(block)  # type: ignore[arg-type]
    if name is None:
        raise ConfigurationError(
            f"A shard on another worker loads the {what} by name: save the block first "
            "(block.save(NAME)) or give its name."
        )
    if isinstance(block, BotPenguinCredentials):
        return name
    return f"{block.get_block_type_slug()}/{name}"  # type: ignore[attr-defined]


def one_line(exc: BaseException) -> str:
    """An error as one line: the pack's own message, else the type and text."""
    text = exc.message if isinstance(exc, BotPenguinError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())
