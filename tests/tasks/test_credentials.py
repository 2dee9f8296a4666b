"""The credentials block: Prefect's block standards, save/load by name, and a working client."""

from __future__ import annotations

import pytest
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites import BlockStandardTestSuite

from prefect_botpenguin.credentials import BotPenguinCredentials
from prefect_botpenguin.sandbox import SandboxServer

SECRET = "c0ffee00c0ffee00c0ffee00"


class TestBotPenguinCredentialsStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[Block]:
        return BotPenguinCredentials

    @pytest.mark.skip(reason="downloads the logo; this machine is offline")
    def test_has_a_valid_image(self, block: type[Block]) -> None:
        raise AssertionError("skipped")


def test_base_url_must_be_https_off_loopback() -> None:
    with pytest.raises(ValueError, match="unencrypted"):
        BotPenguinCredentials(api_token=SECRET, base_url="http://bots.example.test")


def test_repr_and_dump_hide_the_token() -> None:
    block = BotPenguinCredentials(api_token=SECRET)
    assert SECRET not in repr(block)
    assert SECRET not in str(block.model_dump())
    assert SECRET not in block.model_dump_json()


async def test_saved_block_loads_by_name_and_fetches(
    prefect_harness: None, sandbox: SandboxServer
) -> None:
    await BotPenguinCredentials(api_token=sandbox.token, base_url=sandbox.url).save(
        "larkspur", overwrite=True
    )
    loaded = await BotPenguinCredentials.aload("larkspur")
    assert loaded.api_token.get_secret_value() == sandbox.token
    async with loaded.get_client() as client:
        segments = await client.get_segments()
    assert len(segments) == 6
    assert sandbox.request_count == 1
