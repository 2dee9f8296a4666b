"""What the one-account commands share: --sandbox, --credentials, --account, --debug.

Why: ``report``, ``export``, ``members``, ``watch``, ``sync`` and ``load`` take the same four
options and run the same way; declaring them once here keeps each handler to what is its own
(parse, call the flow, print). ``account_command`` gives the handler's own options to typer
followed by the shared ones, in the order ``--help`` has always listed them;
``state_command`` does the same without --credentials, for ``history``, which reads the
watch's state and never the API. A handler parameter typed with a group of options (a
dataclass such as ``groups.StateGuards``) stands for the group's options, in its place.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

from . import options as o
from .session import SAMPLE, run


@dataclass(frozen=True)
class Target:
    """The account a command runs for, as the shared options chose it."""

    sandbox: bool
    credentials: str | None
    account: str | None

    @property
    def sample(self) -> str:
        """Appended to what a command prints when the data came from the sandbox."""
        return SAMPLE if self.sandbox else ""

    @property
    def flow_options(self) -> dict[str, Any]:
        """The flow parameters that pick the account: ``credentials`` and ``account``."""
        return {"credentials": self.credentials, "account": self.account}


def _shared(
    sandbox: o.Sandbox = False,
    credentials: o.Credentials = None,
    account: o.Account = None,
    debug: o.Debug = False,
) -> None:
    """Only its signature counts: the shared options, each declared once."""


_SHARED = list(inspect.signature(_shared, eval_str=True).parameters.values())

Handler = Callable[..., int | None]
_KEYWORD = inspect.Parameter.KEYWORD_ONLY


def account_command(handler: Handler) -> Callable[..., None]:
    """``handler(console, target, **own_options)`` as a typer command.

    The command's signature is the handler's own options (after ``console`` and ``target``)
    followed by the shared ones; its name and help come from the handler. An own parameter
    typed with a group (a dataclass of options, ``groups``) stands for the group's options.
    """
    return _command(handler, _SHARED)


def state_command(handler: Handler) -> Callable[..., None]:
    """As ``account_command``, without --credentials: ``target.credentials`` is always None."""
    return _command(handler, [p for p in _SHARED if p.name != "credentials"])


def _group_options(group: type[Any]) -> list[inspect.Parameter]:
    """A group's fields as the options they declare, in field order."""
    hints = get_type_hints(group, include_extras=True)
    return [
        inspect.Parameter(
            field.name, _KEYWORD, default=_default(field), annotation=hints[field.name]
        )
        for field in dataclasses.fields(group)
    ]


def _default(field: dataclasses.Field[Any]) -> Any:
    """A field's default as a signature's: a field without one is a required option."""
    return inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default


def _command(handler: Handler, shared: list[inspect.Parameter]) -> Callable[..., None]:
    own = list(inspect.signature(handler, eval_str=True).parameters.values())[2:]
    groups: dict[str, type[Any]] = {
        p.name: p.annotation
        for p in own
        if isinstance(p.annotation, type) and dataclasses.is_dataclass(p.annotation)
    }

    @functools.wraps(handler)
    def command(**options: Any) -> None:
        for name, group in groups.items():
            fields = [field.name for field in dataclasses.fields(group)]
            options[name] = group(**{field: options.pop(field) for field in fields})
        debug = options.pop("debug")
        credentials = options.pop("credentials", None)
        target = Target(options.pop("sandbox"), credentials, options.pop("account"))
        run(
            lambda console: handler(console, target, **options),
            debug=debug,
            sandbox=target.sandbox,
            credentials=target.credentials,
        )

    parameters = [
        option.replace(kind=_KEYWORD)  # a group may follow options with a default
        for p in own + shared
        for option in (_group_options(groups[p.name]) if p.name in groups else [p])
    ]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    return command


__all__ = ["Target", "account_command", "state_command"]
