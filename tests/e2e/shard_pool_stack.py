"""A Prefect server, a process pool with three workers, and a slow partner sandbox.

The stack for tests/e2e/test_shards_on_pool.py: the README's own commands start the server,
point the profile at it, register the block type and create the pool; the pack's
``prefect.yaml`` deploys the shard deployment; three ``prefect worker start`` processes
(one run each) serve the pool. The partner sandbox runs in this process, so the test reads
its requests-in-flight counter directly, and its token reaches the shards only through a
saved credentials block.

Also here: which worker took a flow run, and killing it (with the run's process, from its
``infrastructure_pid``) the way a lost machine dies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from conftest import OUTPUT, Command, Sandbox, Service, Stack, readme_command

from prefect_botpenguin.sandbox import SandboxServer

POOL = "botpenguin"
"""The README's process work pool, which prefect.yaml's deployments use."""


@dataclass
class PoolStack:
    """The server stack, its workers by name, and the in-process partner sandbox."""

    stack: Stack
    partner: SandboxServer
    workers: dict[str, Service] = field(default_factory=dict)

    def start_workers(self, *names: str) -> None:
        """Workers of the README's pool that run two flow runs at a time (``--limit 2``), so
        six shards spread over three workers, as on three machines; started side by side."""
        command = readme_command("prefect worker start")
        for name in names:
            text = f"{command.text} --name {name} --limit 2"
            argv = self.stack.argv(Command(command.section, command.language, text))
            self.workers[name] = self.stack.start(f"worker-{name}", argv)

    def wait_for_workers(self) -> None:
        for service in self.workers.values():
            service.wait_for_output(r"Worker '.*' started!")

    def ran_on(self, flow_run_id: str) -> str | None:
        """The worker that took a flow run: its log names each run it submits (two may try;
        the server aborts all but one)."""
        found = [
            name
            for name, worker in self.workers.items()
            if f"submitting flow run '{flow_run_id}'" in (log := worker.output())
            and f"Aborted submission of flow run '{flow_run_id}'" not in log
        ]
        assert len(found) <= 1, f"flow run {flow_run_id} taken by {found}"
        return found[0] if found else None

    def kill(self, worker: str, flow_run_pids: list[int]) -> None:
        """SIGKILL the worker's whole process group, then its flow runs' processes: a lost
        machine loses all of them, with no chance to report anything."""
        os.killpg(self.workers[worker].process.pid, signal.SIGKILL)
        for pid in flow_run_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.workers[worker].process.wait(timeout=10)

    def flow_runs(self, flow_name: str) -> list[dict[str, Any]]:
        """Every run of ``flow_name`` on the server, oldest first."""
        runs: list[dict[str, Any]] = self.stack.api(
            "POST",
            "/flow_runs/filter",
            json={"flows": {"name": {"any_": [flow_name]}}, "sort": "EXPECTED_START_TIME_ASC"},
        )
        return runs


def flow_run_pid(run: dict[str, Any]) -> int | None:
    """The process of a running flow run, from ``infrastructure_pid`` (``host:pid`` on
    older Prefect, the bare pid on newer)."""
    value = run.get("infrastructure_pid")
    return int(value.rsplit(":", 1)[-1]) if value else None


def adopt_sandbox(partner: SandboxServer) -> Sandbox:
    """The stacks' sandbox handle, pointed at a sandbox this process already serves."""
    handle = Sandbox(OUTPUT / "e2e")
    handle.port = partner.port
    return handle


def wait_for(what: str, check: Any, timeout: float, every: float = 0.2) -> Any:
    """Poll ``check()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"no {what} within {timeout:.0f} s")
