"""Every public task works as users write it: ``x = task(...)`` in a plain ``@flow def`` and
``x = await task(...)`` in an ``async def`` flow, both giving the real value (issue 9, item 4).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectConcurrentFuture, PrefectFuture
from prefect.tasks import Task
from prefect.utilities.annotations import quote, unmapped
from prefect_readback import latest_artifact, table_rows
from pydantic import SecretStr

import prefect_botpenguin
from prefect_botpenguin import (
    ExportResult,
    FanoutAccount,
    FanoutReport,
    Segment,
    Snapshot,
    check_notification_targets,
    diff_segments,
    drop_guard,
    emit_change_events,
    export_segments,
    fetch_segments,
    fetch_segments_fanout,
    history_events,
    history_state,
    load_segments,
    load_segments_snapshot,
    outbox,
    publish_changes_artifact,
    publish_fanout_artifacts,
    publish_segments_artifact,
    save_segments_snapshot,
    send_notification,
)
from prefect_botpenguin._dispatch import DualTask, fast_path
from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS, Fault, SandboxServer
from prefect_botpenguin.sandbox.data import simulated_accounts

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

KINDS = ["sync", "async"]
SEGMENTS = [Segment.from_api(item) for item in SAMPLE_SEGMENTS]
PUBLIC_TASKS = [
    "load_segments",
    "check_notification_targets",
    "emit_change_events",
    "export_segments",
    "fetch_segments",
    "fetch_segments_fanout",
    "load_segments_snapshot",
    "publish_changes_artifact",
    "publish_fanout_artifacts",
    "publish_segments_artifact",
    "save_segments_snapshot",
    "send_notification",
]


def in_flow(kind: str, step: Callable[[], Any]) -> Any:
    """Run ``step`` -- one task call, written once -- inside a user's sync or async flow.

    In the sync flow the call must give the value itself; in the async flow something to await.
    """
    if kind == "sync":

        @flow(name="user-sync-flow")
        def user_sync_flow() -> Any:
            value = step()
            assert not inspect.isawaitable(value), "a sync flow got a coroutine"
            return value

        return user_sync_flow()

    @flow(name="user-async-flow")
    async def user_async_flow() -> Any:
        value = step()
        assert inspect.isawaitable(value), "an async flow got no awaitable"
        return await value

    return asyncio.run(user_async_flow())


@pytest.mark.parametrize("kind", KINDS)
def test_fetch_segments_gives_segments(kind: str, sandbox_env: SandboxServer) -> None:
    segments = in_flow(kind, lambda: fetch_segments())
    assert [s.id for s in segments] == [s.id for s in SEGMENTS]
    assert all(isinstance(s, Segment) for s in segments)


@pytest.mark.parametrize("kind", KINDS)
def test_publish_segments_artifact_records_the_table(kind: str) -> None:
    key = in_flow(kind, lambda: publish_segments_artifact(SEGMENTS, account=f"dual {kind}"))
    assert key == f"botpenguin-segments-dual-{kind}"
    rows = table_rows(asyncio.run(latest_artifact(key)))
    assert [row["id"] for row in rows] == [s.id for s in SEGMENTS]


@pytest.mark.parametrize("kind", KINDS)
def test_export_segments_writes_the_file(kind: str, tmp_path: Path) -> None:
    target = tmp_path / f"{kind}.jsonl"
    result = in_flow(kind, lambda: export_segments(SEGMENTS, target))
    assert isinstance(result, ExportResult)
    assert result.count == len(SEGMENTS)
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [s.id for s in SEGMENTS]


@pytest.mark.parametrize("kind", KINDS)
def test_load_segments_loads_into_the_database(kind: str, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/{kind}.sqlite"
    result = in_flow(kind, lambda: load_segments(SEGMENTS, f"dual-load-{kind}", database=database))
    assert (result.segments_created, result.versions) == (len(SEGMENTS), len(SEGMENTS))


@pytest.mark.parametrize("kind", KINDS)
def test_snapshot_tasks_save_and_load(kind: str, tmp_path: Path) -> None:
    state = str(tmp_path)
    assert in_flow(kind, lambda: load_segments_snapshot("dual", state)) is None
    location = in_flow(kind, lambda: save_segments_snapshot(SEGMENTS, "dual", state))
    assert location == str(tmp_path / "dual.json")
    snapshot = in_flow(kind, lambda: load_segments_snapshot("dual", state))
    assert isinstance(snapshot, Snapshot)
    assert [s.id for s in snapshot.segments] == [s.id for s in SEGMENTS]


@pytest.mark.parametrize("kind", KINDS)
def test_emit_change_events_confirms_every_event(kind: str) -> None:
    diff = diff_segments(SEGMENTS[:4], SEGMENTS[2:])  # 2 removed, 2 created
    ids = in_flow(kind, lambda: emit_change_events(diff, f"dual-{kind}-{uuid.uuid4().hex[:6]}"))
    assert len(ids) == 4
    assert all(uuid.UUID(event_id) for event_id in ids)


@pytest.mark.parametrize("kind", KINDS)
def test_publish_changes_artifact_records_the_summary(kind: str) -> None:
    diff = diff_segments(SEGMENTS[:4], SEGMENTS[2:])
    key = in_flow(kind, lambda: publish_changes_artifact(diff, f"dual {kind}", segment_count=4))
    assert key == f"botpenguin-changes-dual-{kind}"
    markdown = asyncio.run(latest_artifact(key)).data
    assert isinstance(markdown, str)
    assert "2 created, 2 removed" in markdown


@pytest.mark.parametrize("kind", KINDS)
def test_notification_tasks_check_and_deliver(kind: str, receiver: Any) -> None:
    url = receiver.url(f"/hooks/{kind}", scheme="json")
    assert in_flow(kind, lambda: check_notification_targets([url])) == ["json://127.0.0.1"]
    sent = in_flow(kind, lambda: send_notification("3 segments changed.", [url], subject="Hi"))
    assert sent == ["json://127.0.0.1"]
    (request,) = receiver.requests
    assert request.path == f"/hooks/{kind}"
    assert request.json()["message"] == "3 segments changed."


@pytest.mark.parametrize("kind", KINDS)
def test_fanout_tasks_collect_and_publish(kind: str, sandbox: SandboxServer) -> None:
    account = FanoutAccount(label="one", token=SecretStr(sandbox.token), base_url=sandbox.url)
    report = in_flow(kind, lambda: fetch_segments_fanout([account], concurrency=2))
    assert isinstance(report, FanoutReport)
    assert report.segment_count == len(SEGMENTS)

    key = in_flow(kind, lambda: publish_fanout_artifacts(report))
    rows = table_rows(asyncio.run(latest_artifact(key)))
    assert [row["account"] for row in rows] == ["one"] * len(SEGMENTS)


def test_submit_and_map_from_a_sync_flow_give_futures_of_segments(
    sandbox_env: SandboxServer,
) -> None:
    @flow
    def submitting() -> tuple[int, list[int]]:
        future = fetch_segments.submit()
        mapped = fetch_segments.map([None, None])
        return len(future.result()), [len(segments) for segments in mapped.result()]

    assert submitting() == (len(SEGMENTS), [len(SEGMENTS), len(SEGMENTS)])


def test_a_future_argument_is_still_resolved(tmp_path: Path, sandbox_env: SandboxServer) -> None:
    @flow
    def chained() -> ExportResult:
        future = fetch_segments.submit()
        return export_segments(future, tmp_path / "chained.csv")  # type: ignore[arg-type]

    assert chained().count == len(SEGMENTS)


@pytest.mark.parametrize("kind", KINDS)
def test_with_options_keeps_dispatching_and_reaches_both_twins(
    kind: str, sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOTPENGUIN_MAX_ATTEMPTS", "1")
    sandbox_env.inject(Fault.status_code(503), Fault.status_code(503))
    patient = fetch_segments.with_options(retries=2, retry_delay_seconds=0)
    assert isinstance(patient, DualTask)
    segments = in_flow(kind, lambda: patient())
    assert len(segments) == len(SEGMENTS)
    assert sandbox_env.request_count == 3  # 1 try + the 2 retries given to with_options


@pytest.mark.parametrize("name", PUBLIC_TASKS)
def test_each_task_has_an_exported_async_twin_with_the_same_options(name: str) -> None:
    dispatching = getattr(prefect_botpenguin, name)
    twin = getattr(prefect_botpenguin, f"a{name}")
    assert isinstance(dispatching, DualTask)
    assert twin is dispatching.aio
    assert twin.isasync
    assert not dispatching.sync.isasync
    for option in (
        "name",
        "description",
        "tags",
        "retries",
        "retry_delay_seconds",
        "retry_condition_fn",
        "timeout_seconds",
        "cache_policy",
    ):
        assert getattr(dispatching.sync, option) == getattr(twin, option), option
    assert inspect.signature(dispatching) == inspect.signature(twin.fn)


@pytest.mark.parametrize("name", PUBLIC_TASKS)
def test_each_task_is_tagged_botpenguin_and_never_cached(name: str) -> None:
    dispatching = getattr(prefect_botpenguin, name)
    for twin in (dispatching.sync, dispatching.aio):
        assert "botpenguin" in twin.tags
        assert twin.cache_policy is NO_CACHE


def test_the_watch_inner_tasks_are_tagged_botpenguin_and_never_cached() -> None:
    for task in (
        drop_guard.report_suspicious_drop,
        history_events.emit_history_events,
        history_state.load_size_history,
        history_state.save_size_history,
        outbox.deliver_pending,
    ):
        assert "botpenguin" in task.tags, task.name
        assert task.cache_policy is NO_CACHE, task.name


def test_fast_path_quotes_segments_but_never_futures() -> None:
    future: PrefectFuture[Any] = PrefectConcurrentFuture(
        task_run_id=uuid.uuid4(), wrapped_future=concurrent.futures.Future()
    )
    report = FanoutReport()
    diff = diff_segments([], SEGMENTS)

    for value in (SEGMENTS, tuple(SEGMENTS), report, diff):
        wrapped = fast_path(value)
        assert isinstance(wrapped, quote)
        assert wrapped.unquote() is value
    for value in ([future], [*SEGMENTS, future], future, [], "text", None):
        assert fast_path(value) is value
    kept = fast_path(unmapped(SEGMENTS))
    assert isinstance(kept, unmapped)
    assert isinstance(kept.value, quote)


def test_20000_segments_pass_between_tasks_without_prefect_walking_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same task call costs far less CPU through the pack than through Prefect's walk."""
    accounts, _ = simulated_accounts(1, segments_per_account=20_000)
    ((token, _items),) = accounts.items()

    @flow
    def large_account(state: str) -> tuple[float, float, int]:
        segments = fetch_segments()
        started = time.process_time()
        save_segments_snapshot(segments, "large", state)
        fast = time.process_time() - started
        started = time.process_time()
        Task.__call__(save_segments_snapshot.sync, segments, "walked", state)  # no fast path
        walked = time.process_time() - started
        return fast, walked, len(segments)

    with SandboxServer(accounts=accounts) as server:
        monkeypatch.setenv("BOTPENGUIN_BASE_URL", server.url)
        monkeypatch.setenv("BOTPENGUIN_API_TOKEN", token)
        fast, walked, count = large_account(str(tmp_path))

    assert count == 20_000
    saved = json.loads((tmp_path / "large.json").read_text(encoding="utf-8"))
    assert saved["segment_count"] == 20_000, "the task received the whole list"
    assert fast * 2 < walked, f"{fast:.2f}s of CPU with the fast path, {walked:.2f}s without"


def test_sync_twin_times_out_outside_the_main_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prefect cannot interrupt a sync task's wait in a worker thread; the twin stops itself."""
    with SandboxServer(latency=8.0) as slow:
        monkeypatch.setenv("BOTPENGUIN_BASE_URL", slow.url)
        monkeypatch.setenv("BOTPENGUIN_API_TOKEN", slow.token)
        quick = fetch_segments.with_options(timeout_seconds=0.5, retries=0)

        @flow
        def impatient() -> list[Segment]:
            return quick()

        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(1) as pool, pytest.raises(TimeoutError):
            pool.submit(impatient).result()
        elapsed = time.perf_counter() - started

    assert elapsed < 5.0, f"took {elapsed:.1f}s: the 8 s request was not interrupted"
