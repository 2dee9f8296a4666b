"""The command line's options: the order ``--help`` lists them in, and groups of options.

Fast: the commands are built, not run, except a probe command that runs no flow.
"""

from __future__ import annotations

import inspect

import typer
from rich.console import Console
from typer.testing import CliRunner

from prefect_botpenguin.flows.cli import app
from prefect_botpenguin.flows.cli import options as o
from prefect_botpenguin.flows.cli.account import Target, account_command
from prefect_botpenguin.flows.cli.groups import Destination, StateGuards, WatchTargets
from prefect_botpenguin.flows.sync import WatchStep
from prefect_botpenguin.flows.watch import segments_watch
from prefect_botpenguin.snapshots import DEFAULT_STATE_DIR

SHARED = ["--sandbox", "--credentials", "--account", "--debug"]
WATCH_TARGETS = ["--state", "--notify", "--always-notify"]
STATE_GUARDS = ["--state-filesystem", "--accept-drop", "--reset-state", "--drop-pending"]


def flags(command: str) -> list[str]:
    """The options of ``botpenguin COMMAND`` in the order its ``--help`` lists them."""
    return [param.opts[0] for param in typer.main.get_command(app).commands[command].params]


def test_watch_and_sync_list_the_grouped_options_where_they_always_stood():
    assert flags("watch") == [
        *WATCH_TARGETS,
        "--members",
        *STATE_GUARDS,
        "--resize-relative",
        "--resize-absolute",
        *SHARED,
    ]
    assert flags("sync") == [
        "--export",
        "--format",
        *WATCH_TARGETS,
        "--no-watch",
        "--no-artifacts",
        *STATE_GUARDS,
        *SHARED,
    ]


def test_the_export_commands_keep_their_option_order():
    assert flags("export") == ["--to", "--format", *SHARED]
    assert flags("members") == ["--to", "--segments", "--fields", "--format", *SHARED]
    assert flags("history") == [
        "--to",
        "--format",
        "--state",
        "--state-filesystem",
        "--segments",
        "--sandbox",
        "--account",
        "--debug",
    ]
    assert flags("load") == ["--db", "--members", "--contact-fields", "--accept-drop", *SHARED]


def test_a_group_parameter_reaches_the_handler_as_one_object_built_from_its_options():
    seen: dict[str, object] = {}

    @account_command
    def probe(
        console: Console,
        target: Target,
        *,
        targets: WatchTargets,
        no_watch: o.NoWatch = False,
        guards: StateGuards,
    ) -> None:
        seen.update(targets=targets, no_watch=no_watch, guards=guards, account=target.account)

    probe_app = typer.Typer()
    probe_app.command()(probe)
    argv = ["--notify", "a://x", "--notify", "b", "--accept-drop", "--state-filesystem", "local/x"]
    argv += ["--no-watch", "--drop-pending", "--account", "acme"]
    result = CliRunner().invoke(probe_app, argv)

    assert result.exit_code == 0, result.output
    assert seen == {
        "targets": WatchTargets(state=None, notify=["a://x", "b"], always_notify=False),
        "no_watch": True,
        "guards": StateGuards("local/x", accept_drop=True, reset_state=False, drop_pending=True),
        "account": "acme",
    }


def test_the_groups_give_the_watch_flow_and_the_sync_step_the_parameters_they_take():
    targets = WatchTargets(notify=["ops-hook"], always_notify=True)
    guards = StateGuards(state_filesystem="local-file-system/shared", reset_state=True)
    options = {**targets.flow_options, **guards.flow_options}

    inspect.signature(segments_watch.fn).bind(**options)  # every name is a flow parameter
    step = WatchStep(enabled=True, **options)
    assert (step.state, step.notify, step.always_notify) == (DEFAULT_STATE_DIR, ["ops-hook"], True)
    assert (step.state_filesystem, step.reset_state) == ("local-file-system/shared", True)


def test_no_notify_is_left_to_the_flow_default_not_sent_as_an_empty_list():
    assert WatchTargets(state="snaps").flow_options == {"state": "snaps", "always_notify": False}
    assert WatchStep(**WatchTargets().flow_options).notify == []


def test_a_group_field_without_a_default_is_a_required_option():
    for command in ("export", "history"):
        params = typer.main.get_command(app).commands[command].params
        assert [p.opts[0] for p in params if p.required] == ["--to"], command
    assert Destination("out.csv").flow_options == {"destination": "out.csv", "format": None}
