"""Every public task twice -- ``afetch_segments`` (async) and ``fetch_segments`` (either) --
from one implementation, and big arguments handed over without Prefect's walk.

``fetch_segments(...)`` runs the sync twin in a sync flow and returns the result; in an async
flow (or any running event loop) it runs the async twin and returns a coroutine to await:
Prefect's own ``async_dispatch`` rule (``is_in_async_context``), as in prefect-aws. Prefect's
``async_dispatch`` decorator is not used because its plain-function wrapper loses
``with_options``, ``submit`` and ``map``; ``DualTask`` keeps them.

The sync twin runs the async body to completion on Prefect's run-sync loop
(``run_coro_as_sync``), which copies the context, so ``get_run_logger`` and the task run
context work unchanged; the body is written once.

Fast path: before starting a task run Prefect visits every element of every argument looking
for futures (20,000 segments: seconds of CPU per call, see tests/tasks/test_sync_and_async.py). A
list of ``Segment`` or one of the pack's models holding segments never holds a future, so the
pack's tasks wrap such arguments in ``prefect.utilities.annotations.quote`` themselves;
anything else (futures, lists holding futures) is left for Prefect to resolve.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast

from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.futures import PrefectFuture, PrefectFutureList
from prefect.tasks import Task
from prefect.utilities.annotations import quote, unmapped
from prefect.utilities.asyncutils import run_coro_as_sync

from ._compat import is_in_async_context
from .core.models import Segment
from .core.snapshot import Snapshot

P = ParamSpec("P")
R = TypeVar("R")


def fast_path(value: Any) -> Any:
    """``value`` wrapped in ``quote`` when it is segments Prefect need not walk, else as is.

    Quoted: a non-empty list or tuple whose every item is a ``Segment``, a ``SegmentDiff``, a
    ``FanoutReport`` or a ``Snapshot`` (none can hold a future), also inside ``unmapped``.
    """
    # diff and fanout are not needed to import one task (benchmarks/NOTES.md, d); they load
    # with the first call. Neither imports this module, so there is no cycle to hide.
    from .core.diff import SegmentDiff
    from .core.fanout import FanoutReport

    if isinstance(value, unmapped):
        inner = fast_path(value.value)
        return value if inner is value.value else unmapped(inner)
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(item, Segment) for item in value):
            return quote(value)
        return value
    if isinstance(value, (SegmentDiff, FanoutReport, Snapshot)):
        return quote(value)
    return value


def _fast_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    return tuple(fast_path(a) for a in args), {k: fast_path(v) for k, v in kwargs.items()}


class PackTask(Task[P, R]):
    """A Prefect ``Task`` that quotes segment arguments (see ``fast_path``) when called,
    submitted or mapped, and stays one through ``with_options``."""

    if not TYPE_CHECKING:  # keep Task's typed overloads for type checkers

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            args, kwargs = _fast_args(args, kwargs)
            return super().__call__(*args, **kwargs)

        def submit(self, *args: Any, **kwargs: Any) -> Any:
            args, kwargs = _fast_args(args, kwargs)
            return super().submit(*args, **kwargs)

        def map(self, *args: Any, **kwargs: Any) -> Any:
            args, kwargs = _fast_args(args, kwargs)
            return super().map(*args, **kwargs)

        def with_options(self, **options: Any) -> Any:
            copied = super().with_options(**options)  # always a plain Task
            copied.__class__ = type(self)
            return copied


class DualTask(Generic[P, R]):
    """``fetch_segments`` and its kin: one name for a sync and an async Prefect task.

    Calling it runs the sync twin in a sync flow and returns ``R``; in an async context it
    runs the async twin and returns a coroutine. ``submit`` and ``map`` always run the async
    twin: they return futures either way, and Prefect times async tasks out reliably in its
    worker threads. ``.aio`` is the async task and ``.sync`` the sync one; type checkers see
    the precise result through them. Other attributes (``name``, ``retries``, ...) are read
    from the sync twin; both twins always carry the same options.
    """

    def __init__(self, sync: Task[P, R], aio: Task[P, Coroutine[Any, Any, R]]) -> None:
        self.sync = sync
        self.aio = aio
        self.__doc__ = aio.fn.__doc__
        self.__name__ = sync.fn.__name__
        self.__qualname__ = sync.fn.__qualname__
        self.__module__ = aio.fn.__module__
        self.__wrapped__ = sync.fn  # inspect.signature shows the task's parameters

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R | Coroutine[Any, Any, R]:
        """The result in a sync context, a coroutine to await in an async one."""
        if is_in_async_context():
            return self.aio(*args, **kwargs)
        return self.sync(*args, **kwargs)

    def fn(self, *args: P.args, **kwargs: P.kwargs) -> R | Coroutine[Any, Any, R]:
        """The body without Prefect (no task run), dispatched like a call; needs a run context."""
        if is_in_async_context():
            return self.aio.fn(*args, **kwargs)
        return self.sync.fn(*args, **kwargs)

    def submit(self, *args: P.args, **kwargs: P.kwargs) -> PrefectFuture[R]:
        """Submit a run to the flow's task runner; a future either way."""
        return cast("PrefectFuture[R]", self.aio.submit(*args, **kwargs))

    def map(self, *args: Any, **kwargs: Any) -> PrefectFutureList[R]:
        """Submit one run per item of the iterable arguments (``unmapped(x)`` keeps x whole)."""
        return cast("PrefectFutureList[R]", self.aio.map(*args, **kwargs))

    def with_options(self, **options: Any) -> DualTask[P, R]:
        """A copy of both twins with ``Task.with_options(**options)``, still dispatching."""
        return DualTask(self.sync.with_options(**options), self.aio.with_options(**options))

    def __getattr__(self, name: str) -> Any:
        if name in ("sync", "aio"):  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.sync, name)

    def __repr__(self) -> str:
        return f"DualTask(name={self.sync.name!r})"


PACK_TASK_OPTIONS: dict[str, Any] = {"tags": ["botpenguin"], "cache_policy": NO_CACHE}
"""What every task of the pack carries unless it says otherwise: the ``botpenguin`` tag (a
tag concurrency limit or a filter in the UI selects the pack's task runs by it) and no cache,
because every run must see the account and its saved state as they are now."""


def dual_task(
    body: Callable[P, Coroutine[Any, Any, R]], **options: Any
) -> tuple[Task[P, Coroutine[Any, Any, R]], DualTask[P, R]]:
    """The async task (``afetch_segments``) and the dispatching name (``fetch_segments``).

    ``body`` is the one implementation, named ``_fetch_segments`` by convention; ``options``
    are ``Task`` options, given to both twins over ``PACK_TASK_OPTIONS``. The async twin is
    named after ``body`` with an ``a`` in front, the sync one without the leading underscore.
    """
    options = {**PACK_TASK_OPTIONS, **options}
    public = body.__name__.lstrip("_")

    @functools.wraps(body)
    async def run_async(*args: P.args, **kwargs: P.kwargs) -> R:
        return await body(*args, **kwargs)

    @functools.wraps(body)
    def run_sync(*args: P.args, **kwargs: P.kwargs) -> R:
        return run_coro_as_sync(_within_timeout(body(*args, **kwargs)))

    for function, name in ((run_async, f"a{public}"), (run_sync, public)):
        function.__name__ = name
        function.__qualname__ = name
    aio = PackTask(fn=run_async, **options)
    sync = PackTask(fn=run_sync, **options)
    return aio, DualTask(sync, aio)


async def _within_timeout(coroutine: Coroutine[Any, Any, R]) -> R:
    """Apply the running task's ``timeout_seconds`` inside the loop.

    Prefect's own timeout for sync tasks cannot interrupt a wait outside the main thread; a
    cancelled coroutine stops at once and raises ``TimeoutError``, which Prefect reports as
    the task's timeout.
    """
    context = TaskRunContext.get()
    seconds = context.task.timeout_seconds if context is not None else None
    async with asyncio.timeout(seconds):
        return await coroutine
