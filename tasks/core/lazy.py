"""Module attributes that load on first use (PEP 562), for the packages' ``__init__`` files.

Why: ``import prefect_botpenguin`` must not import Prefect, and ``botpenguin --help`` must not
import every flow; a package maps each public name to the module that defines it and imports
that module only when the name is used. No Prefect import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_attributes(
    namespace: dict[str, Any], where: Mapping[str, str], public: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for the package whose ``globals()`` is ``namespace``.

    ``where`` maps a public name to its module (relative to the package). A loaded name is
    stored in the namespace, so later look-ups skip the hook; ``__dir__`` lists the public
    names too, so ``prefect block register -m prefect_botpenguin`` finds the block.
    """
    package = str(namespace["__name__"])
    names = frozenset(public)

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | names)

    return __getattr__, __dir__


__all__ = ["lazy_attributes"]
