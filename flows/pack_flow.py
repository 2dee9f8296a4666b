"""How every flow of the pack is declared, once: ``@pack_flow("botpenguin-...")``.

Each flow needs the same three things around its function: its docstring's shared parameter
help filled in (``shared_help``) before Prefect reads it, its string annotations resolved
for the oldest Prefects (``eager_annotations``), and ``@flow`` with its name and
``log_prints=False`` (the pack logs through Prefect's run logger; a user's ``print`` inside a
task they compose must not be captured on the pack's behalf).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import Flow, flow

from .._compat import eager_annotations
from .parameter_help import shared_help

P = ParamSpec("P")
R = TypeVar("R")


def pack_flow(name: str) -> Callable[[Callable[P, R]], Flow[P, R]]:
    """``@flow(name=name, log_prints=False)`` over the function with its help and types ready."""

    def declare(fn: Callable[P, R]) -> Flow[P, R]:
        ready: Any = eager_annotations(shared_help(fn))
        return flow(name=name, log_prints=False)(ready)

    return declare
