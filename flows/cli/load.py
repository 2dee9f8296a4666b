"""``botpenguin load``: an account into a database. Parses, calls ``segments_load``, prints."""

from __future__ import annotations

import asyncio

from rich.console import Console

from . import options as o
from .account import Target, account_command


@account_command
def load(
    console: Console,
    target: Target,
    db: o.Database = None,
    members: o.LoadMembers = None,
    contact_fields: o.ContactFields = None,
    accept_drop: o.AcceptDrop = False,
) -> None:
    """load segments and memberships into a database, with their history (one transaction)"""
    from pydantic import SecretStr

    from ...core.warehouse import load_warehouse_settings, shown, target_url
    from ..load import segments_load

    where = shown(target_url(db, load_warehouse_settings()))  # a bad URL fails first
    result = asyncio.run(
        segments_load(
            database=SecretStr(db) if db else None,  # the run keeps **********
            members=members,
            contact_fields=contact_fields,
            accept_drop=accept_drop,
            **target.flow_options,
        )
    )
    verb = "Held (drop guard; only the run row written)" if result.held else "Loaded"
    counts = ", ".join(f"{name} {value}" for name, value in result.counts().items())
    console.print(
        f"{verb} account {result.account}{target.sample} into {where}: {counts}.", soft_wrap=True
    )
    console.print(f"Run: {result.run_id}")
