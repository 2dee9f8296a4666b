"""Every example a user reads runs: docstring ``Example:`` blocks, the README's and docs/' Python.

Each example is executed as written, in this process, against the sandbox over real HTTP and
the session's Prefect test server. Examples are complete programs (they call their flow, as
prefect-slack's do), so running one proves what it shows. Only the placeholders a reader
fills in are swapped (``PLACEHOLDERS``): the token ``"..."`` and BotPenguin's public host
become the sandbox's, and the block names ``BLOCK_NAME`` / ``my-shop`` name one block saved
here, pointing at the sandbox. The "Run on a Prefect server" and "Scale out" sections
(docs/deployments.md) are run, command by command, by the end-to-end tests instead.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import prefect_botpenguin
from prefect_botpenguin.credentials import BotPenguinCredentials
from prefect_botpenguin.sandbox import SandboxServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").rglob("*.md"))
"""The reference pages; their examples run like the README's."""
FENCE = re.compile(r"```python\n(.*?)```", re.S)
SAVED_BLOCK = "my-shop"
OTHER_SAVED_BLOCK = "my-other-shop"
NOTIFICATION_BLOCK = "ops-webhook"
SECTIONS_RUN_ELSEWHERE = ("Run on a Prefect server", "Scale out")


def _docstring(obj: Any) -> str:
    """The docstring a user reads: a Prefect task's is its function's."""
    return inspect.getdoc(getattr(obj, "fn", obj)) or ""


def _public_objects() -> Iterator[tuple[str, Any]]:
    """Modules, their public classes and functions, and those classes' public methods."""
    for info in pkgutil.walk_packages(prefect_botpenguin.__path__, "prefect_botpenguin."):
        if info.name.endswith("__main__") or any(
            part.startswith("_") for part in info.name.split(".")
        ):
            continue  # private modules' docstrings are not user documentation
        module = importlib.import_module(info.name)
        yield info.name, module
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            yield f"{info.name}.{name}", obj
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_"):
                        yield f"{info.name}.{name}.{attr}", getattr(member, "__func__", member)


def docstring_examples() -> list[Any]:
    """Each distinct example once (a task's async twin shares its docstring)."""
    params, seen = [], set()
    for where, obj in _public_objects():
        for number, code in enumerate(FENCE.findall(_docstring(obj)), start=1):
            if code not in seen:
                seen.add(code)
                params.append(pytest.param(textwrap.dedent(code), id=f"{where}#{number}"))
    return params


def page_examples(page: Path) -> list[Any]:
    """The Python blocks of one page, by section (a page's text before its first section
    counts as one), except the sections the end-to-end tests run."""
    params = []
    name = page.relative_to(ROOT).as_posix()
    for section in re.split(r"^## ", page.read_text(encoding="utf-8"), flags=re.M):
        title = section.splitlines()[0].strip() if section else ""
        if title in SECTIONS_RUN_ELSEWHERE:
            continue
        for number, code in enumerate(FENCE.findall(section), start=1):
            params.append(pytest.param(code, id=f"{name} {title}#{number}"))
    return params


def readme_examples() -> list[Any]:
    return page_examples(README)


def docs_examples() -> list[Any]:
    return [param for page in PAGES for param in page_examples(page)]


def _fill_placeholders(code: str, sandbox: SandboxServer) -> str:
    placeholders = {
        'api_token="..."': f'api_token="{sandbox.token}"',
        '"BLOCK_NAME"': f'"{SAVED_BLOCK}"',  # Prefect's placeholder is not a valid block name
        '"OTHER_BLOCK_NAME"': f'"{OTHER_SAVED_BLOCK}"',
        "https://api.v7.botpenguin.com": sandbox.url,
        "https://api-v7.express-chat.com": sandbox.url,
    }
    for placeholder, value in placeholders.items():
        code = code.replace(placeholder, value)
    return code


@pytest.fixture
def saved_blocks(prefect_harness: None, sandbox_env: SandboxServer, receiver: Any) -> SandboxServer:
    """The blocks examples load, saved on the test server: two accounts on the sandbox, and
    a notification block that posts to a loopback receiver."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    for name in (SAVED_BLOCK, OTHER_SAVED_BLOCK):
        BotPenguinCredentials(api_token=sandbox_env.token, base_url=sandbox_env.url).save(
            name, overwrite=True
        )
    CustomWebhookNotificationBlock(
        name="examples", url=receiver.url(), json_data={"text": "{{body}}"}
    ).save(NOTIFICATION_BLOCK, overwrite=True)
    return sandbox_env


def _completed_runs_since(flow_name: str, since: datetime) -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
            flow_run_filter=FlowRunFilter(
                start_time=FlowRunFilterStartTime(after_=since),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED])),
            ),
        )
    return len(runs)


def _run(code: str, sandbox: SandboxServer, tmp_path: Path, monkeypatch: Any) -> None:
    """Execute ``code``; every flow it defines must have completed a run meanwhile."""
    from prefect import Flow

    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    namespace: dict[str, Any] = {"__name__": "__main__"}
    started = datetime.now(UTC) - timedelta(seconds=1)
    exec(compile(_fill_placeholders(code, sandbox), "<example>", "exec"), namespace)
    for flow in [value for value in namespace.values() if isinstance(value, Flow)]:
        assert _completed_runs_since(flow.name, started), f"the example never runs {flow.name!r}"


def test_every_public_task_and_block_has_an_example() -> None:
    """prefect-slack's bar: each task, flow and block shows a complete program."""
    from prefect import Flow
    from prefect.blocks.core import Block
    from prefect.tasks import Task

    missing = [
        name
        for name in prefect_botpenguin.__all__
        if isinstance(obj := getattr(prefect_botpenguin, name), Task | Flow)
        or (inspect.isclass(obj) and issubclass(obj, Block))
        if not FENCE.search(_docstring(obj))
    ]
    assert missing == []


@pytest.mark.parametrize("code", docstring_examples())
def test_docstring_example_runs(code: str, saved_blocks: SandboxServer, tmp_path, monkeypatch):
    _run(code, saved_blocks, tmp_path, monkeypatch)


@pytest.mark.parametrize("code", readme_examples())
def test_readme_example_runs(code: str, saved_blocks: SandboxServer, tmp_path, monkeypatch):
    _run(code, saved_blocks, tmp_path, monkeypatch)


@pytest.mark.parametrize("code", docs_examples())
def test_docs_page_example_runs(code: str, saved_blocks: SandboxServer, tmp_path, monkeypatch):
    _run(code, saved_blocks, tmp_path, monkeypatch)


def test_the_pages_have_examples_to_run():
    """A change to how pages are read cannot silently run none of their examples."""
    ids = [param.id for param in docs_examples()]
    assert any(id.startswith("docs/getting-started.md") for id in ids), ids
