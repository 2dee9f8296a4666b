"""Pause Python's cyclic garbage collector while one bulk step builds many objects.

Why: reading a large account builds hundreds of thousands of dicts, models and records at
once, and each few hundred allocations trigger a collection that walks the ever larger heap
(on Python 3.11 the full ones rescan everything). Measured on 50,000 segments: parsing into
models took 0.70 s CPU with the collector running and 0.19 s paused (benchmarks/NOTES.md).
The steps paused here create no reference cycles of their own; whatever other code makes
meanwhile is collected as soon as the step ends. No Prefect import.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector for the block, if it was enabled; re-enable it after.

    Nested or concurrent uses are safe: only a pause that found the collector enabled turns
    it back on (so a concurrent pause may end a little early; nothing is lost but speed).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
