"""The ``BotPenguinCredentials`` block: a saved token and host that build a client."""

from __future__ import annotations

from typing import Any

from prefect.blocks.abstract import CredentialsBlock
from pydantic import Field, SecretStr

from ._compat import saved_block_name
from .core.client import BotPenguinClient
from .core.settings import DEFAULT_BASE_URL, BaseUrl, BotPenguinSettings, load_settings


class BotPenguinCredentials(CredentialsBlock):
    """A BotPenguin API token and the host it belongs to.

    Timeouts and retry knobs still come from ``BOTPENGUIN_*`` settings, so one worker's
    policy applies to every account it serves.

    Example:
        Load saved credentials and fetch segments with the client, outside any flow:
        ```python
        import asyncio

        from prefect_botpenguin import BotPenguinCredentials

        credentials = BotPenguinCredentials.load("BLOCK_NAME")

        async def count_segments() -> int:
            async with credentials.get_client() as client:
                return len(await client.get_segments())

        print(asyncio.run(count_segments()))
        ```
    """

    _block_type_name = "BotPenguin Credentials"
    _block_type_slug = "botpenguin-credentials"
    _logo_url = "https://cdn.botpenguin.com/assets/website/BotPenguin.svg"  # type: ignore[assignment]
    _documentation_url = "https://partners.botpenguin.com/"  # type: ignore[assignment]
    _description = "A BotPenguin API token and host, used to fetch an account's segments."

    api_token: SecretStr = Field(
        default=...,
        title="API token",
        description=(
            "API token from the BotPenguin panel (More -> Developer -> API Access Token)."
        ),
    )
    base_url: BaseUrl = Field(
        default=DEFAULT_BASE_URL,
        title="Base URL",
        description=(
            "API host; use https://api.v7.botpenguin.com or a white-label host when yours differs."
        ),
    )

    def get_client(
        self, settings: BotPenguinSettings | None = None, **overrides: Any
    ) -> BotPenguinClient:
        """A client for this account; the caller closes it (``async with``)."""
        return BotPenguinClient.from_settings(
            settings or load_settings(),
            api_token=self.api_token,
            base_url=self.base_url,
            **overrides,
        )


def credentials_reference(credentials: BotPenguinCredentials | None) -> dict[str, Any] | None:
    """The saved block as Prefect stores a block parameter: a reference, never the token.

    ``{"$ref": {"block_document_slug": "botpenguin-credentials/<name>"}}``, or None for
    ``BOTPENGUIN_*`` settings and an unsaved block. Change events carry it, so the export
    they trigger reads the account the watch read, not the deployment's default block.
    """
    name = saved_block_name(credentials) if credentials is not None else None
    if credentials is None or name is None:
        return None
    slug = f"{credentials.get_block_type_slug()}/{name}"
    return {"$ref": {"block_document_slug": slug}}
