"""``botpenguin`` (also ``python -m prefect_botpenguin``): run the pack's flows from a terminal.

Commands share ``--sandbox`` (run against the bundled sample-data server), ``--credentials``
(a saved block) and ``--debug`` (show tracebacks). Failures print one line and exit 1;
usage errors exit 2.
"""

from __future__ import annotations

import typer

from . import fanout, segments, server
from .options import SeveralValues

app = typer.Typer(
    name="botpenguin",
    help="Run prefect-botpenguin flows.",
    add_completion=False,
    no_args_is_help=False,
    # Plain help and errors: one line per failure, no boxes, no pretty tracebacks.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
for command in (
    segments.report,
    segments.export,
    segments.members,
    segments.watch,
    segments.sync,
    segments.history,
    fanout.fanout,
    server.serve,
):
    # The whole first line in the list of commands, not click's first 45 characters.
    app.command(cls=SeveralValues, short_help=command.__doc__)(command)
app.add_typer(server.automations, name="automations")
app.add_typer(server.server, name="server")


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: the process's) and return its exit code."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="botpenguin")
    except SystemExit as exit:
        return exit.code if isinstance(exit.code, int) else 1
    return 0
