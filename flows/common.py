"""What every flow does before its first task: find the account's credentials and label."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import ConfigurationError
from ..core.settings import load_settings
from ..credentials import BotPenguinCredentials


@dataclass(frozen=True)
class Account:
    """Where a flow's segments come from: a saved block, or ``BOTPENGUIN_*`` settings."""

    label: str
    source: str
    credentials: BotPenguinCredentials | None


async def resolve_account(credentials: str | None, account: str | None) -> Account:
    """Load the named credentials block (or fall back to settings) and pick the account label.

    The label defaults to the block's name, else ``BOTPENGUIN_ACCOUNT``.
    """
    if credentials:
        try:
            block: BotPenguinCredentials = await BotPenguinCredentials.aload(credentials)
        except ValueError:
            raise ConfigurationError(
                f"No BotPenguin Credentials block named {credentials!r} on this Prefect server; "
                "create it in the UI (Blocks) or with BotPenguinCredentials(...).save(name)."
            ) from None
        return Account(label=account or credentials, source=block.base_url, credentials=block)
    settings = load_settings()
    return Account(label=account or settings.account, source=settings.base_url, credentials=None)
