"""Acceptance: the built wheel, installed in a fresh venv outside the repository, works.

This is what a user gets from ``pip install prefect-botpenguin``: no editable install, no
repository on ``sys.path``. Every command runs in a working directory holding the user's own
``tasks.py`` and ``flows/`` package, which raise (and leave a marker) if imported: the wheel
ships one import name, ``prefect_botpenguin``, and must never pick up a user's module of the
same name as one of the repository's folders.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from prefect_botpenguin.sandbox import SAMPLE_SEGMENTS

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 300
USER_MODULE = textwrap.dedent(
    """\
    from pathlib import Path

    Path(__file__).resolve().parent.joinpath("IMPORTED-{name}").touch()
    raise RuntimeError("the user's own {name} was imported")
    """
)


@dataclass(frozen=True)
class InstalledWheel:
    wheel: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def bin(self) -> Path:
        return self.venv / "bin"


def _uv() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH; install it with `pip install uv`")
    return uv


def _run_setup(argv: list[str], cwd: Path) -> None:
    result = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"`{' '.join(argv)}` exited {result.returncode}: {result.stderr.strip()}")


@pytest.fixture(scope="session")
def installed_wheel(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> InstalledWheel:
    """The wheel built from this checkout, installed in one venv outside the repository."""
    base = tmp_path_factory.mktemp("wheel")
    assert not base.is_relative_to(ROOT)
    assert not built_wheel.is_relative_to(ROOT)
    uv = _uv()
    wheel = built_wheel
    venv = base / "venv"
    _run_setup([uv, "venv", str(venv), "--python", sys.executable], cwd=base)
    _run_setup([uv, "pip", "install", "--python", str(venv / "bin" / "python"), str(wheel)], base)
    return InstalledWheel(wheel, venv)


@pytest.fixture
def user_project(tmp_path: Path) -> Iterator[Path]:
    """A user's working directory with their own ``tasks.py`` and ``flows/``; both raise."""
    project = tmp_path / "project"
    (project / "flows").mkdir(parents=True)
    (project / "tasks.py").write_text(USER_MODULE.format(name="tasks"))
    (project / "flows" / "__init__.py").write_text(USER_MODULE.format(name="flows"))
    yield project
    imported = sorted(marker.name for marker in project.rglob("IMPORTED-*"))
    assert imported == [], f"the user's own modules were imported: {imported}"


@pytest.fixture
def user_env(
    installed_wheel: InstalledWheel, prefect_api_url: str, tmp_path: Path
) -> dict[str, str]:
    """A user's shell: the venv first on PATH, the harness server, a fresh Prefect home."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "BOTPENGUIN_", "PYTHON", "VIRTUAL_ENV", "UV_"))
    }
    env.update(
        PATH=os.pathsep.join([str(installed_wheel.bin), env.get("PATH", "")]),
        VIRTUAL_ENV=str(installed_wheel.venv),
        PREFECT_API_URL=prefect_api_url,
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    return env


def run_in(
    project: Path, env: dict[str, str], *argv: str | Path
) -> subprocess.CompletedProcess[str]:
    """Run a command as the user would, in their project; it must exit 0."""
    result = subprocess.run(
        [str(arg) for arg in argv],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, (
        f"{argv} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    assert "the user's own" not in result.stdout + result.stderr
    return result


def test_the_wheel_ships_only_prefect_botpenguin(installed_wheel):
    names = zipfile.ZipFile(installed_wheel.wheel).namelist()
    assert "prefect_botpenguin/__init__.py" in names
    assert "prefect_botpenguin/flows/__init__.py" in names
    assert "prefect_botpenguin/deployments/prefect.yaml" in names
    assert "prefect_botpenguin/deployments/EVENTS.md" in names, "the event contract ships"
    strays = [
        name
        for name in names
        if not name.startswith(("prefect_botpenguin/", "prefect_botpenguin-"))
    ]
    assert strays == []


def test_the_venv_imports_the_installed_wheel_not_the_checkout(
    installed_wheel, user_project, user_env
):
    result = run_in(
        user_project,
        user_env,
        installed_wheel.python,
        "-c",
        "import prefect_botpenguin; print(prefect_botpenguin.__file__)",
    )
    location = Path(result.stdout.strip()).resolve()
    assert location.is_relative_to(installed_wheel.venv.resolve())
    assert not location.is_relative_to(ROOT)


def test_botpenguin_report_sandbox_prints_the_sample_table(installed_wheel, user_project, user_env):
    result = run_in(
        user_project, user_env, installed_wheel.bin / "botpenguin", "report", "--sandbox"
    )
    assert "SAMPLE DATA" in result.stdout


def test_the_public_task_imports_from_the_package(installed_wheel, user_project, user_env):
    run_in(
        user_project,
        user_env,
        installed_wheel.python,
        "-c",
        "from prefect_botpenguin import fetch_segments; assert callable(fetch_segments)",
    )


def test_the_block_registers_and_loads_through_the_collections_entry_point(
    installed_wheel, user_project, user_env
):
    prefect = installed_wheel.bin / "prefect"
    registered = run_in(
        user_project, user_env, prefect, "block", "register", "-m", "prefect_botpenguin.credentials"
    )
    assert "BotPenguin Credentials" in registered.stdout

    name = f"wheel-{uuid.uuid4().hex[:8]}"
    save = textwrap.dedent(
        f"""\
        from prefect_botpenguin import BotPenguinCredentials

        BotPenguinCredentials(
            api_token="wheel-test-token", base_url="http://127.0.0.1:9"
        ).save("{name}", overwrite=True)
        """
    )
    run_in(user_project, user_env, installed_wheel.python, "-c", save)

    # A fresh interpreter that never imported the pack: Prefect finds the block's class
    # through the prefect.collections entry point, which imports only the block's module.
    load = textwrap.dedent(
        f"""\
        import sys

        from prefect.blocks.core import Block

        block = Block.load("botpenguin-credentials/{name}")
        print(type(block).__module__, type(block).__name__, block.base_url)
        print("flows loaded:", "prefect_botpenguin.flows" in sys.modules)
        """
    )
    loaded = run_in(user_project, user_env, installed_wheel.python, "-c", load).stdout
    assert "prefect_botpenguin.credentials BotPenguinCredentials http://127.0.0.1:9" in loaded
    assert "flows loaded: False" in loaded
    assert "wheel-test-token" not in loaded


def test_a_users_sync_flow_gets_a_list_of_segments(
    installed_wheel, user_project, user_env, sample_server
):
    (user_project / "count_segments.py").write_text(
        textwrap.dedent(
            """\
            from prefect import flow

            from prefect_botpenguin import Segment, fetch_segments


            @flow
            def count_segments() -> int:
                segments = fetch_segments()
                assert isinstance(segments, list), type(segments)
                assert all(isinstance(segment, Segment) for segment in segments)
                return len(segments)


            print("segments:", count_segments())
            """
        )
    )
    env = {
        **user_env,
        "BOTPENGUIN_BASE_URL": sample_server.url,
        "BOTPENGUIN_API_TOKEN": sample_server.token,
    }
    result = run_in(user_project, env, installed_wheel.python, "count_segments.py")
    assert f"segments: {len(SAMPLE_SEGMENTS)}" in result.stdout
