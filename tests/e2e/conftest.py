"""End-to-end fixtures: real Prefect servers (SQLite, PostgreSQL 15), workers and the sandbox.

Every service is started by the documented commands: the sections "Run on a Prefect
server" and "Scale out" of docs/deployments.md are parsed and run in document order, with
only the well-known ports (4200 server, 8765 sandbox, 5432 PostgreSQL) swapped for free
ones, and the server's port given as ``PREFECT_SERVER_API_PORT``. So the page cannot drift
from what is tested: a
command that stops working fails here, and a command added to those sections is run here.
Commands that run until stopped (server, worker, sandbox, event stream, serve) are started
in the background and waited for; the rest must exit 0.

Each stack gets its own ``PREFECT_HOME`` in a temporary directory (so ``prefect config set``
writes a throwaway profile), a scrubbed environment (no ``PREFECT_*``, ``BOTPENGUIN_*`` or
``PG*`` from the caller: credentials come from the block), and logs under
``test-output/e2e/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from system_packages import chromium_path, postgres_bindir

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "docs" / "deployments.md"
"""The page whose sections these fixtures run (they were the README's; the names stay)."""
OUTPUT = ROOT / "test-output"
SERVER_SECTION = "Run on a Prefect server"
SCALE_OUT_SECTION = "Scale out"

SERVER_PORT, SANDBOX_PORT, POSTGRES_PORT = 4200, 8765, 5432
"""The ports the README names; each stack swaps them for free ones."""

SERVE_COMMAND = "botpenguin serve"
"""Run by the SQLite module's last test, since serving takes the deployments over."""

SETUP_AGAIN = (
    "python -m prefect_botpenguin.sandbox",
    "prefect config set PREFECT_API_URL",
    "prefect block register",
    "from prefect_botpenguin import BotPenguinCredentials",
    "prefect work-pool create",
    "prefect --no-prompt deploy",
)
"""What "Scale out" tells the reader to repeat from "Run on a Prefect server" on a new database."""

STARTUP_TIMEOUT = 120.0
COMMAND_TIMEOUT = 240.0
FLOW_RUN_TIMEOUT = 180.0
API_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 0.0)
TERMINAL_STATES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is the e2e tier, so ``-m "not e2e"`` leaves it out."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the README ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One command of a README section: a shell line, or a whole Python block."""

    section: str
    language: str
    text: str

    def matches(self, fragment: str) -> bool:
        return fragment in self.text


def readme_commands(section: str, readme: Path = README) -> list[Command]:
    """The commands of ``## section``, in document order.

    Shell blocks give one command per line (``\\`` continues a line; comments and blank lines
    are skipped); a Python block is one command, run as a script.
    """
    text = readme.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(section)}[ \t]*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if match is None:
        raise AssertionError(f"{readme.name} has no '## {section}' section")
    commands: list[Command] = []
    for language, body in re.findall(r"^```(\w+)[ \t]*\n(.*?)^```", match.group(1), re.M | re.S):
        if language == "python":
            commands.append(Command(section, language, body))
            continue
        if language not in ("bash", "sh", "shell"):
            continue
        for line in re.sub(r"\\\n\s*", " ", body).splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(Command(section, "bash", line.strip()))
    if not commands:
        raise AssertionError(f"README section '{section}' has no shell or Python commands")
    return commands


def readme_command(fragment: str, section: str = SERVER_SECTION) -> Command:
    """The one command of ``section`` that contains ``fragment``."""
    found = [c for c in readme_commands(section) if c.matches(fragment)]
    if len(found) != 1:
        raise AssertionError(
            f"expected one command with {fragment!r} in README '{section}', found {len(found)}"
        )
    return found[0]


# -- processes -------------------------------------------------------------------------------


class Service:
    """A long-running README command in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one group: uv, its python, and their children
            )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.name} exited with {self.process.returncode} before {what}:\n"
                    f"{self.tail()}"
                )
            time.sleep(0.25)
        pytest.fail(f"{self.name}: no {what} within {timeout:.0f} s:\n{self.tail()}")

    def wait_for_output(self, pattern: str, timeout: float = STARTUP_TIMEOUT) -> None:
        regex = re.compile(pattern)
        self.wait_until(lambda: bool(regex.search(self.output())), repr(pattern), timeout)

    def stop(self) -> None:
        """SIGTERM the command (uv hands it on, once), then SIGKILL its whole group.

        One signal, as Ctrl-C would send: a second one cuts a graceful shutdown short (serve
        pauses its schedules on the first).
        """
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def base_environment(*path: Path) -> dict[str, str]:
    """The caller's environment without Prefect, BotPenguin or PostgreSQL settings.

    ``path`` and uv's directory go first on ``PATH``; quiet, fast defaults are added.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "BOTPENGUIN_", "PG"))
    }
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH; the README commands start with `uv run` (pip install uv)")
    env["PATH"] = os.pathsep.join([*map(str, path), str(Path(uv).parent), env.get("PATH", "")])
    env.update(
        PYTHONUNBUFFERED="1",  # event stream and service logs reach the log file at once
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_LOGGING_LEVEL="WARNING",
        # Scheduled runs would start on their own at the top of the hour and hold the
        # deployments' one-at-a-time slots; tests trigger every run themselves.
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
        # The default 15 s poll would dominate each run; every poll also writes to the
        # database, so not faster than this.
        PREFECT_WORKER_QUERY_SECONDS="2",
        PREFECT_RUNNER_POLL_FREQUENCY="2",  # the same for `botpenguin serve`
    )
    return env


# -- the sandbox -----------------------------------------------------------------------------


class Sandbox:
    """The README's sandbox command, started once per session on a free port."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.service: Service | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ensure_started(self, argv: list[str], env: dict[str, str]) -> None:
        if self.service is None:
            self.service = Service("sandbox", argv, env=env, log=self.log_dir / "sandbox.log")
            self.service.wait_for_output(r"BotPenguin sandbox")

    def set_segments(self, token: str, segments: list[dict[str, Any]]) -> None:
        """Give ``token`` its own account with ``segments`` (the control endpoint adds it)."""
        reply = httpx.post(
            f"{self.url}/_sandbox/segments", json={"token": token, "segments": segments}
        )
        reply.raise_for_status()

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout, once per session for every test that installs it."""
    dist = tmp_path_factory.mktemp("dist")
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH; install it with `pip install uv`")
    argv = [uv, "build", "--wheel", "--out-dir", str(dist)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(argv)}` exited {done.returncode}: {done.stderr.strip()}")
    (wheel,) = dist.glob("prefect_botpenguin-*.whl")
    return wheel


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium for the UI test, installed with apt the first time a session needs it."""
    return chromium_path()


# -- PostgreSQL ------------------------------------------------------------------------------


class PostgresCluster:
    """A throwaway PostgreSQL cluster in a temporary directory, listening on loopback only.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres``
    system user (or ``nobody``). The superuser password is random; client commands get it
    through ``PGPASSWORD`` in the stack's environment, as a DBA's shell would have.
    """

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)
        self.root = Path(tempfile.mkdtemp(prefix="botpenguin-pg-"))
        self.data = self.root / "data"
        self.owner: str | None = None

    def start(self) -> None:
        """initdb and pg_ctl start, as the owner; ``stop()`` removes everything again."""
        if os.geteuid() == 0:
            self.owner = next(name for name in ("postgres", "nobody") if _user_exists(name))
            info = pwd.getpwnam(self.owner)
            os.chown(self.root, info.pw_uid, info.pw_gid)
        password_file = self.root / "pwfile"
        password_file.write_text(self.password)
        if self.owner:
            info = pwd.getpwnam(self.owner)
            os.chown(password_file, info.pw_uid, info.pw_gid)
        password_file.chmod(0o600)
        self._as_owner(
            str(self.bindir / "initdb"),
            "--pgdata",
            str(self.data),
            "--username",
            "postgres",
            "--auth",
            "scram-sha-256",
            "--pwfile",
            str(password_file),
            "--encoding",
            "UTF8",
            "--locale",
            "C",
        )
        password_file.unlink()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._as_owner(
            str(self.bindir / "pg_ctl"),
            "--pgdata",
            str(self.data),
            "--log",
            str(self.root / "postgres.log"),
            "--options",
            options,
            "--wait",
            "start",
        )

    def _as_owner(self, *argv: str) -> None:
        command = ["runuser", "-u", self.owner, "--", *argv] if self.owner else list(argv)
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            pytest.fail(f"{Path(argv[0]).name} failed: {result.stdout}{result.stderr}")

    def client_environment(self) -> dict[str, str]:
        """A superuser's client settings: what `psql` and `createdb` in the README need."""
        return {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": "postgres",
            "PGPASSWORD": self.password,
        }

    def query(self, database: str, sql: str) -> str:
        env = {**base_environment(self.bindir), **self.client_environment()}
        result = subprocess.run(
            ["psql", "--dbname", database, "--tuples-only", "--no-align", "--command", sql],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout.strip()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._as_owner(
                str(self.bindir / "pg_ctl"),
                "--pgdata",
                str(self.data),
                "--mode",
                "immediate",
                "--wait",
                "stop",
            )
        shutil.rmtree(self.root, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# -- a Prefect stack -------------------------------------------------------------------------


@dataclass
class Stack:
    """One Prefect server, its home, and everything the README started against it."""

    name: str
    sandbox: Sandbox
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_path: list[Path] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    home: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="botpenguin-e2e-")))
    services: list[Service] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.logs = OUTPUT / "e2e" / self.name
        shutil.rmtree(self.logs, ignore_errors=True)
        self.logs.mkdir(parents=True)
        self.env = {
            **base_environment(*self.extra_path),
            **self.extra_env,
            "PREFECT_HOME": str(self.home),
            # What a reader whose port 4200 is taken would set: `prefect server start` binds
            # to it, and the UI (until PREFECT_API_URL is configured) calls the API there.
            "PREFECT_SERVER_API_PORT": str(self.port),
        }
        self.http = httpx.Client(base_url=self.api_url, timeout=30)

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"

    # README commands

    def localise(self, text: str) -> str:
        """The command with the README's ports swapped for this stack's."""
        ports = {
            str(SERVER_PORT): str(self.port),
            str(SANDBOX_PORT): str(self.sandbox.port),
            str(POSTGRES_PORT): self.extra_env.get("PGPORT", str(POSTGRES_PORT)),
        }
        return re.sub(rf"\b({'|'.join(ports)})\b", lambda m: ports[m.group(1)], text)

    def argv(self, command: Command) -> list[str]:
        text = self.localise(command.text)
        if command.language == "python":
            return ["uv", "run", "python", "-c", text]
        return ["bash", "-c", f"exec {text}"]

    def execute(self, command: Command) -> None:
        """Run one README command the way a reader would: wait for it, or start it aside."""
        argv = self.argv(command)
        if command.matches("python -m prefect_botpenguin.sandbox"):
            self.sandbox.ensure_started(argv, self.env)
        elif command.matches("prefect server start"):
            service = self.start("server", argv)
            service.wait_until(self.healthy, "a healthy API", STARTUP_TIMEOUT)
        elif command.matches("prefect worker start"):
            name = re.search(r"--name (\S+)", command.text)
            service = self.start(f"worker-{name.group(1)}" if name else "worker", argv)
            service.wait_for_output(r"Worker '.*' started!")
        elif command.matches("prefect events stream"):
            self.start_event_stream(argv)
        elif command.matches(SERVE_COMMAND):
            service = self.start("serve", argv)
            service.wait_for_output(r"Your deployments are being served")
        else:
            self.outputs[command.text] = self.run(argv, command.text)

    def run(self, argv: list[str], label: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run a command to its end; fail the test, with its output, unless it exits 0."""
        started = time.monotonic()
        with subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        ) as process:
            try:
                output, _ = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                output, _ = process.communicate()
                pytest.fail(
                    f"README command still running after {timeout:.0f} s: {label}\n{output}"
                )
        with (self.logs / "commands.log").open("a", encoding="utf-8") as log:
            log.write(
                f"$ {label}  ({time.monotonic() - started:.1f} s, exit {process.returncode})"
                f"\n{output}\n"
            )
        if process.returncode != 0:
            pytest.fail(f"README command failed (exit {process.returncode}): {label}\n{output}")
        return output

    def start(self, name: str, argv: list[str]) -> Service:
        service = Service(f"{self.name} {name}", argv, env=self.env, log=self.logs / f"{name}.log")
        self.services.append(service)
        return service

    def start_event_stream(self, argv: list[str]) -> None:
        """Start the stream and wait until it prints an event sent after it started."""
        service = self.start("events", argv)
        probe = f"botpenguin.e2e.probe-{uuid.uuid4().hex[:8]}"

        def probe_seen() -> bool:
            self.emit_event(probe)
            return probe in service.output()

        service.wait_until(probe_seen, f"the probe event {probe}", STARTUP_TIMEOUT)

    def readme_command(self, fragment: str) -> Command:
        return readme_command(fragment)

    def output_of(self, fragment: str) -> str:
        """What a finished README command printed."""
        found = [text for label, text in self.outputs.items() if fragment in label]
        assert len(found) == 1, f"expected one finished README command with {fragment!r}"
        return found[0]

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == f"{self.name} {name}")

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.http.close()
        shutil.rmtree(self.home, ignore_errors=True)

    # the Prefect API

    def healthy(self) -> bool:
        try:
            return self.http.get("/health").status_code == 200
        except httpx.TransportError:
            return False

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the Prefect REST API, retrying a 503 the way Prefect's own client does.

        The server answers 503 when SQLite is busy (concurrent writers on a loaded machine);
        it means "try again", not "failed".
        """
        for delay in API_RETRY_DELAYS:
            reply = self.http.request(method, path, **kwargs)
            if reply.status_code != 503:
                break
            time.sleep(delay)
        assert reply.is_success, f"{method} {path}: HTTP {reply.status_code} {reply.text}"
        return reply.json() if reply.content else None

    def emit_event(self, name: str) -> None:
        event = {
            "id": str(uuid.uuid4()),
            "occurred": datetime.now(UTC).isoformat(),
            "event": name,
            "resource": {"prefect.resource.id": name},
        }
        self.api("POST", "/events", json=[event])

    def deployment(self, qualified_name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.api("GET", f"/deployments/name/{qualified_name}")
        return result

    def start_run(self, qualified_name: str, parameters: dict[str, Any]) -> str:
        """Create a flow run of a deployment through the API; a worker picks it up."""
        deployment = self.deployment(qualified_name)
        run = self.api(
            "POST",
            f"/deployments/{deployment['id']}/create_flow_run",
            json={"parameters": parameters},
        )
        return str(run["id"])

    def wait_for_run(self, run_id: str, timeout: float = FLOW_RUN_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run: dict[str, Any] = self.api("GET", f"/flow_runs/{run_id}")
            if run["state_type"] in TERMINAL_STATES:
                return run
            time.sleep(0.5)
        pytest.fail(f"flow run {run_id} not finished after {timeout:.0f} s: {run['state_name']}")

    def run_deployment(self, qualified_name: str, parameters: dict[str, Any]) -> dict[str, Any]:
        """Trigger a run through the API, wait for it, and insist that it completed."""
        run = self.wait_for_run(self.start_run(qualified_name, parameters))
        assert run["state_type"] == "COMPLETED", self.failure_report(run)
        return run

    def failure_report(self, run: dict[str, Any]) -> str:
        logs = self.api(
            "POST",
            "/logs/filter",
            json={"logs": {"flow_run_id": {"any_": [run["id"]]}}, "sort": "TIMESTAMP_ASC"},
        )
        lines = "\n".join(entry["message"] for entry in logs)
        return f"run {run['name']} ended {run['state_name']}: {run['state']['message']}\n{lines}"

    def latest_artifact(self, key: str) -> dict[str, Any]:
        result: dict[str, Any] = self.api("GET", f"/artifacts/{key}/latest")
        return result

    def latest_rows(self, key: str) -> list[dict[str, Any]]:
        """The rows of the newest version of a table artifact."""
        return artifact_rows(self.latest_artifact(key))

    def run_artifacts(self, run_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api(
            "POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run_id]}}}
        )
        return result

    def events(self, prefix: str, resource_id: str | None = None) -> list[dict[str, Any]]:
        event_filter: dict[str, Any] = {"event": {"prefix": [prefix]}}
        if resource_id:
            event_filter["resource"] = {"id": [resource_id]}
        page = self.api("POST", "/events/filter", json={"filter": event_filter, "limit": 50})
        events: list[dict[str, Any]] = page["events"]
        return events

    def automations(self) -> list[dict[str, Any]]:
        """Every automation on the server, by name."""
        result: list[dict[str, Any]] = self.api("POST", "/automations/filter", json={})
        return result

    def deployment_triggers(self) -> dict[str, list[dict[str, Any]]]:
        """The automations that run a deployment, by its ``flow/deployment`` name, normalised.

        What ``triggers:`` in prefect.yaml becomes on the server, without the ids the server
        assigns (automation, trigger, deployment), so what ``prefect deploy`` and ``botpenguin
        serve`` registered can be compared. An automation whose deployment no longer exists
        is listed under ``"<missing deployment>"``: it would fail each time it fires.
        """
        from prefect_botpenguin.deployments.serve import load_deployment_specs, load_flow

        names: dict[str, str] = {}
        for spec in load_deployment_specs():
            name = f"{load_flow(spec['entrypoint']).name}/{spec['name']}"
            found = self.http.get(f"/deployments/name/{name}")
            if found.status_code == 200:
                names[found.json()["id"]] = name
        found_ids = {str(d["id"]) for d in self.api("POST", "/deployments/filter", json={})}
        triggers: dict[str, list[dict[str, Any]]] = {}
        for automation in self.automations():
            targets = [a for a in automation["actions"] if a["type"] == "run-deployment"]
            if not targets:
                continue
            (action,) = targets
            deployment_id = str(action["deployment_id"])
            name = names.get(deployment_id) or (
                "<other deployment>" if deployment_id in found_ids else "<missing deployment>"
            )
            normalised = {
                key: value
                for key, value in automation.items()
                if key not in ("id", "created", "updated")
            }
            normalised["trigger"] = {
                # Sets on the client (expect, after, for_each): their JSON order is the order
                # of one process's string hashes, so it differs between two processes.
                key: sorted(value) if key in SET_FIELDS else value
                for key, value in automation["trigger"].items()
                if key != "id"
            }
            normalised["actions"] = [
                {**a, "deployment_id": name} if a is action else a for a in automation["actions"]
            ]
            triggers.setdefault(name, []).append(normalised)
        for found in triggers.values():
            found.sort(key=lambda automation: str(automation["name"]))
        return triggers

    def save_credentials(self, block_name: str, token: str) -> None:
        """Save a credentials block for one sandbox account (setup beyond the README's own)."""
        script = (
            "import sys\nfrom prefect_botpenguin import BotPenguinCredentials\n"
            "BotPenguinCredentials(api_token=sys.argv[1], base_url=sys.argv[2])"
            ".save(sys.argv[3], overwrite=True)\n"
        )
        self.run(
            ["uv", "run", "python", "-c", script, token, self.sandbox.url, block_name],
            f"save credentials block {block_name}",
        )


SET_FIELDS = frozenset({"expect", "after", "for_each"})
"""The fields of an event trigger that are sets."""


def artifact_rows(artifact: dict[str, Any]) -> list[dict[str, Any]]:
    """A table artifact's rows: Prefect stores them as a JSON string."""
    data = artifact["data"]
    rows: list[dict[str, Any]] = json.loads(data) if isinstance(data, str) else data
    return rows


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """One sandbox for the session, started by whichever stack reaches its README command."""
    shared = Sandbox(OUTPUT / "e2e")
    yield shared
    shared.stop()


@pytest.fixture(scope="module")
def sqlite_stack(sandbox: Sandbox) -> Iterator[Stack]:
    """The README's "Run on a Prefect server", top to bottom: SQLite server, block, pool, worker.

    ``botpenguin serve`` is left to the module's last test, since serving takes
    the deployments over from the work pool.
    """
    stack = Stack("sqlite", sandbox)
    try:
        for command in readme_commands(SERVER_SECTION):
            if not command.matches(SERVE_COMMAND):
                stack.execute(command)
        yield stack
    finally:
        stack.stop()


SETUP_ONLY = (*SETUP_AGAIN, "prefect server start", "prefect worker start")
"""The README's setup steps, without the demonstrations (a run, an event stream, serve)."""


@pytest.fixture(scope="module")
def fresh_stack(sandbox: Sandbox, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A fresh server set up by the README's steps only: server, block, pool, deploy, worker.

    For tests that count what happens on the server (runs a trigger started, messages an
    automation sent), so no other test may write to it.
    """
    stack = Stack(request.module.__name__.removeprefix("test_"), sandbox)
    try:
        for command in readme_commands(SERVER_SECTION):
            if any(command.matches(fragment) for fragment in SETUP_ONLY):
                stack.execute(command)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL 15 cluster per session, shared by every test that needs one
    (each uses a database of its own)."""
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def postgres_stack(
    sandbox: Sandbox, postgres_cluster: PostgresCluster
) -> Iterator[tuple[Stack, PostgresCluster]]:
    """The README's "Scale out", top to bottom, on the session's PostgreSQL 15 cluster.

    Right after the server starts, the setup steps the section refers back to (block type,
    credentials block, work pool, deploy) run from "Run on a Prefect server".
    """
    cluster = postgres_cluster
    stack: Stack | None = None
    try:
        stack = Stack(
            "postgres",
            sandbox,
            extra_env=cluster.client_environment(),
            extra_path=[cluster.bindir],
        )
        for command in readme_commands(SCALE_OUT_SECTION):
            stack.execute(command)
            if command.matches("prefect server start"):
                for setup in readme_commands(SERVER_SECTION):
                    if any(setup.matches(fragment) for fragment in SETUP_AGAIN):
                        stack.execute(setup)
        yield stack, cluster
    finally:
        if stack is not None:
            stack.stop()
