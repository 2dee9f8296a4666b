"""i. A members fan-out over a work pool: one worker against two, and shards against in-process.

Everything a user would run, each in its own process on this machine: a ``botpenguin
server`` (``benchmarks.processes.warm_server``), the pack's ``fanout-shard`` deployment
(``prefect deploy`` of ``deployments/prefect.yaml``) on a process pool, ``prefect worker
start --limit 1`` workers, the sandbox partner (``benchmarks.sandbox_process``), and the
parent: a ``python -c`` process running ``members_fanout`` with a partner credentials block,
as from a terminal. Rows:

- the members of every account of the partner (CPU-bound: thousands of contacts per
  account, to Parquet), ``shards=2`` on the pool with one worker, then with two; the second
  worker is paused (``SIGSTOP``) while the one-worker runs go, so it neither takes a shard
  nor spends CPU, and the variants alternate without restarting anything;
- a small fan-out (few contacts) with ``shards=2`` on two workers against ``shards=1`` and
  no deployment (the shard runs inside the parent): what running shards as flow runs costs.

Wall time is the parent's. CPU is every party's, from ``/proc`` (user + system of each
process tree, reaped children included): the parent, the workers with their flow-run
processes, the server and the sandbox.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from benchmarks.measure import Result, Timing, ratio, timed_row
from benchmarks.processes import run_process, warm_server
from benchmarks.sandbox_process import RemoteSandbox, SandboxConfig

CASE = "i. members fan-out over a work pool"
POOL = "botpenguin"
SHARD_DEPLOYMENT = "botpenguin-fanout-shard/fanout-shard"
PARTNER_BLOCK = "partner"
QUERY_SECONDS = "2"
"""How often an idle worker asks for runs (Prefect's default is 10 s; the e2e tests use 2)."""
CONTACTS_SMALL = 5
SETUP = """
import asyncio, sys
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect_botpenguin import BotPenguinCredentials

BotPenguinCredentials.register_type_and_schema()
BotPenguinCredentials(api_token=sys.argv[1], base_url=sys.argv[2]).save(sys.argv[3])

async def main():
    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name=sys.argv[4], type="process"))

asyncio.run(main())
"""
PARENT = """
import asyncio, sys
from prefect_botpenguin.flows import members_fanout

manifest = asyncio.run(members_fanout(
    partner_credentials=sys.argv[1], export=sys.argv[2], shards=int(sys.argv[3]),
    shard_deployment=sys.argv[4] or None, concurrency=8, shard_timeout=600.0,
))
print("accounts", len(manifest.accounts), "members", sum(e.member_count for e in manifest.accounts))
"""


@dataclass(frozen=True)
class PoolSizes:
    """The heavy fan-out (accounts x segments x contacts) and the small one's accounts.

    No defaults: the one run that sets it up is ``benchmarks.run.FULL``, which names them.
    """

    accounts: int
    segments: int
    contacts: int
    small_accounts: int


def _ticks(pid: int, reaped: bool = True) -> int:
    """User + system ticks of a process, plus those of the children it has reaped (unless
    ``reaped`` is false); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(value) for value in fields[11 : 15 if reaped else 13])


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                tree.setdefault(parent, []).append(int(entry.name))
    return tree


def _descendants(pid: int, tree: dict[int, list[int]]) -> list[int]:
    found, todo = [], [pid]
    while todo:
        found.append(current := todo.pop())
        todo += tree.get(current, [])
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process tree so far: each live process's own and reaped children's."""
    tree = _children()
    return sum(map(_ticks, _descendants(pid, tree))) / os.sysconf("SC_CLK_TCK")


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def busy(self) -> bool:
        """Whether a flow-run process of this worker is still alive."""
        return len(_descendants(self.process.pid, _children())) > 1

    def pause(self, paused: bool) -> None:
        os.killpg(self.process.pid, signal.SIGSTOP if paused else signal.SIGCONT)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGCONT)
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@dataclass
class PoolBench:
    """The running stack: environment, server and sandbox pids, workers, per-party CPU."""

    env: dict[str, str]
    server_pid: int
    sandbox: RemoteSandbox
    directory: Path
    workers: list[Worker] = field(default_factory=list)

    def start_worker(self, name: str) -> Worker:
        log = self.directory / f"{name}.log"
        command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL]
        with open(log, "wb") as out:
            process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
                [*command, "--name", name, "--limit", "1"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.directory,
                start_new_session=True,
            )
        worker = Worker(name, process, log)
        self.workers.append(worker)
        deadline = time.monotonic() + 120
        while b"started!" not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start: {log.read_text()[-1500:]}")
            time.sleep(0.2)
        return worker

    def parties(self) -> dict[str, float]:
        cpu = {"server": tree_cpu(self.server_pid), "sandbox": tree_cpu(self.sandbox.pid)}
        cpu["workers"] = sum(tree_cpu(w.process.pid) for w in self.workers)
        own = sum(_ticks(w.process.pid, reaped=False) for w in self.workers)
        cpu["flow runs"] = cpu["workers"] - own / os.sysconf("SC_CLK_TCK")
        return cpu

    def shard_phases(self, since: datetime) -> list[tuple[float, float]]:
        """Each shard run since ``since``: seconds from scheduled to running (a worker's poll,
        the flow-run process starting), and seconds running."""
        from prefect_botpenguin.shard_pool import SHARD_FLOW

        body = {
            "flows": {"name": {"any_": [SHARD_FLOW]}},
            "flow_runs": {"expected_start_time": {"after_": since.isoformat()}},
        }
        api = self.env["PREFECT_API_URL"]
        response = httpx.post(f"{api}/flow_runs/filter", json=body, timeout=30)
        response.raise_for_status()
        phases = []
        for run in response.json():
            scheduled, started, ended = (
                datetime.fromisoformat(run[key])
                for key in ("expected_start_time", "start_time", "end_time")
            )
            waited, ran = started - scheduled, ended - started
            phases.append((waited.total_seconds(), ran.total_seconds()))
        return phases

    def settle(self) -> None:
        """Wait until no flow-run process is left, so its CPU lands in its worker's count."""
        deadline = time.monotonic() + 30
        while any(w.busy() for w in self.workers) and time.monotonic() < deadline:
            time.sleep(0.1)


@contextlib.contextmanager
def pool_stack(directory: Path, config: SandboxConfig) -> Iterator[PoolBench]:
    """Sandbox, server, partner block, pool and shard deployment; workers are stopped after."""
    with RemoteSandbox(config) as sandbox, warm_server(directory / "prefect-home") as (env, api):
        env = {**env, "PREFECT_API_URL": api, "PREFECT_WORKER_QUERY_SECONDS": QUERY_SECONDS}
        pid_file = directory / "prefect-home" / "botpenguin-server" / "server.pid"
        bench = PoolBench(env, int(pid_file.read_text()), sandbox, directory)
        token, url = sandbox.partner_token, sandbox.url
        setup = [token, url, PARTNER_BLOCK, POOL]
        run_process([sys.executable, "-c", SETUP, *setup], env)
        deploy = ["deploy", "--prefect-file", "deployments/prefect.yaml", "--name"]
        prefect = [sys.executable, "-m", "prefect", "--no-prompt"]
        run_process([*prefect, *deploy, SHARD_DEPLOYMENT.split("/")[1]], env)
        try:
            yield bench
        finally:
            for worker in bench.workers:
                worker.stop()


@dataclass
class Measured:
    timing: Timing = field(default_factory=Timing)
    parties: list[dict[str, float]] = field(default_factory=list)
    phases: list[tuple[float, float]] = field(default_factory=list)

    def note(self) -> str:
        names = ("parent", "workers", "flow runs", "server", "sandbox")
        median = {n: statistics.median(p[n] for p in self.parties) for n in names}
        runs = ""
        if self.phases:
            waits, running = zip(*self.phases, strict=True)
            runs = (
                f"; shard runs (medians): {statistics.median(waits):.1f} s scheduled -> "
                f"running, {statistics.median(running):.1f} s running"
            )
        return (
            f"CPU s (medians): parent {median['parent']:.1f}, workers {median['workers']:.1f} "
            f"(flow-run processes {median['flow runs']:.1f}), server {median['server']:.1f}, "
            f"sandbox {median['sandbox']:.1f}{runs}"
        )


def _fanout(bench: PoolBench, label: str, shards: int, pool: bool) -> Callable[[], Measured]:
    """One parent run to its end, measured; it raises unless every member is written."""
    measured = Measured()
    expected = bench.sandbox.config.accounts

    def go() -> Measured:
        export = bench.directory / label / "{shard}" / "{account}.parquet"
        deployment = SHARD_DEPLOYMENT if pool else ""
        argv = [sys.executable, "-c", PARENT, PARTNER_BLOCK, str(export), str(shards)]
        before, since = bench.parties(), datetime.now(UTC)
        done = run_process([*argv, deployment], bench.env)
        bench.settle()
        after = bench.parties()
        members = expected * (bench.sandbox.config.segments_per_account or 0)
        members *= bench.sandbox.config.contacts_per_segment
        if f"accounts {expected} members {members}" not in done.stdout:
            raise RuntimeError(f"{label}: {done.stdout[-500:]}")
        cpu = {name: after[name] - before[name] for name in after} | {"parent": done.cpu}
        measured.timing.wall.append(done.wall)
        measured.timing.cpu.append(sum(v for k, v in cpu.items() if k != "flow runs"))
        measured.parties.append(cpu)
        measured.phases += bench.shard_phases(since) if pool else []
        return measured

    return go


def _alternate(reps: int, variants: dict[str, Callable[[], Measured]]) -> dict[str, Measured]:
    results: dict[str, Measured] = {}
    names = list(variants)
    for rep in range(reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            results[name] = variants[name]()
    return results


def pool_rows(sizes: PoolSizes, reps: int, directory: Path) -> list[Result]:
    """The speedup rows (1 vs 2 workers) and the shard-overhead rows (pool vs in-process)."""
    rows: list[Result] = []
    heavy = SandboxConfig(
        accounts=sizes.accounts,
        segments_per_account=sizes.segments,
        contacts_per_segment=sizes.contacts,
    )
    members = sizes.accounts * sizes.segments * sizes.contacts
    noisy = "shared 2-core machine, other work running"
    with pool_stack(directory / "heavy", heavy) as bench:
        bench.start_worker("bench-worker-1")
        second = bench.start_worker("bench-worker-2")
        one, two = "shards=2 on the pool, 1 worker (--limit 1)", "same, 2 workers (--limit 1 each)"

        def paused(run: Callable[[], Measured]) -> Callable[[], Measured]:
            def go() -> Measured:
                second.pause(True)
                try:
                    return run()
                finally:
                    second.pause(False)

            return go

        found = _alternate(
            reps,
            {
                one: paused(_fanout(bench, "one", 2, pool=True)),
                two: _fanout(bench, "two", 2, pool=True),
            },
        )
    case = f"{CASE}: {sizes.accounts} accounts, {members:,} members to PARQUET"
    speedup = ratio(found[one].timing.median, found[two].timing.median) or 0.0
    rows.append(timed_row(case, one, found[one].timing, note=f"{found[one].note()}; {noisy}"))
    rows.append(
        timed_row(
            case,
            two,
            found[two].timing,
            time_ratio=ratio(found[two].timing.median, found[one].timing.median),
            target="ideal 0.50x (2x speedup)",
            note=f"speedup {speedup:.2f}x of 2x ideal; {found[two].note()}; {noisy}",
        )
    )
    small = SandboxConfig(
        accounts=sizes.small_accounts, segments_per_account=1, contacts_per_segment=CONTACTS_SMALL
    )
    with pool_stack(directory / "small", small) as bench:
        bench.start_worker("bench-worker-1")
        bench.start_worker("bench-worker-2")
        pool, local = "shards=2 on the pool, 2 workers", "baseline: shards=1, in-process"
        found = _alternate(
            reps,
            {pool: _fanout(bench, "pool", 2, pool=True), local: _fanout(bench, "local", 1, False)},
        )
    case = f"{CASE}: shard overhead, {sizes.small_accounts} accounts x {CONTACTS_SMALL} members"
    rows.append(
        timed_row(
            case,
            pool,
            found[pool].timing,
            time_ratio=ratio(found[pool].timing.median, found[local].timing.median),
            note=f"{found[pool].note()}; {noisy}",
        )
    )
    rows.append(timed_row(case, local, found[local].timing, note=f"{found[local].note()}"))
    return rows


def main() -> None:
    """``python -m benchmarks.shardpool``: only this case, at the full size; prints its rows."""
    import tempfile

    from benchmarks.run import FULL, print_table, table_lines

    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    assert FULL.pool is not None
    with tempfile.TemporaryDirectory(prefix="botpenguin-bench-") as directory:
        rows = pool_rows(FULL.pool, FULL.flow_reps, Path(directory))
    print_table(rows)
    print("\n".join(table_lines(rows)))


if __name__ == "__main__":
    main()
