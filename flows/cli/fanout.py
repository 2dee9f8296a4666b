"""``botpenguin fanout``: the segments of many accounts at once (saved blocks or a partner)."""

from __future__ import annotations

import asyncio

from rich.console import Console

from . import options as o
from .session import run


def fanout(
    credentials_blocks: o.CredentialsBlocks = None,
    partner_credentials: o.PartnerCredentials = None,
    concurrency: o.Concurrency = 8,
    concurrency_limit: o.ConcurrencyLimit = None,
    export: o.FanoutExport = None,
    format: o.Format = None,
    shards: o.Shards = 1,
    shard_deployment: o.ShardDeployment = None,
    members: o.FanoutMembers = False,
    sandbox: o.PartnerSandbox = False,
    sandbox_accounts: o.SandboxAccounts = 20,
    debug: o.Debug = False,
) -> None:
    """collect the segments (or members) of many accounts at once, in shards if asked"""

    def work(console: Console) -> None:
        from ...core.errors import ConfigurationError, FanoutFailedError
        from ...core.shards import check_destination
        from ..console import print_fanout_failures, print_fanout_report, print_manifest
        from ..fanout import segments_fanout
        from ..fanout_members import members_fanout

        if sandbox and (credentials_blocks or partner_credentials):
            raise ConfigurationError(
                "--sandbox collects its simulated accounts; drop --credentials-blocks and "
                "--partner-credentials, or drop --sandbox."
            )
        if members:
            check_destination(export)  # one line, before Prefect starts
        chosen = o.checked_format(export, format)
        try:
            if members:
                manifest = asyncio.run(
                    members_fanout(
                        export=export or "",
                        credentials_blocks=credentials_blocks,
                        partner_credentials=partner_credentials,
                        partner_from_env=sandbox,
                        concurrency=concurrency,
                        concurrency_limit=concurrency_limit,
                        export_format=chosen,
                        shards=shards,
                        shard_deployment=shard_deployment,
                    )
                )
                print_manifest(console, manifest, sample=sandbox)
                return
            report = asyncio.run(
                segments_fanout(
                    credentials_blocks=credentials_blocks,
                    partner_credentials=partner_credentials,
                    partner_from_env=sandbox,
                    concurrency=concurrency,
                    concurrency_limit=concurrency_limit,
                    export=export,
                    export_format=chosen,
                    shards=shards,
                    shard_deployment=shard_deployment,
                )
            )
        except FanoutFailedError as exc:
            print_fanout_failures(console, exc.failures)
            raise
        print_fanout_report(console, report, sample=sandbox)

    run(work, debug=debug, sandbox=sandbox, sandbox_accounts=sandbox_accounts)
