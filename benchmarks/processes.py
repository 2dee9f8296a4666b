"""f. Whole processes, as a user starts them from a terminal: interpreter, imports, work.

A ``botpenguin server`` runs for the whole step (its own ``PREFECT_HOME`` in a temporary
folder, a free loopback port), so ``botpenguin`` commands find it the way a user's would
(``PREFECT_API_URL`` unset) and start warm. Rows:

- ``botpenguin report --sandbox`` against a ``python -c`` process running an empty flow on
  the same server: what the pack adds to any flow started from a terminal (target <= 1.1x);
- ``botpenguin export`` to Parquet, a Prefect-free ``python -c`` script on the pack's core,
  and a ``python -c`` dlt pipeline process (``benchmarks.dlt_peer``), all on one sandbox.

Wall time, CPU (user + system of the child, from ``wait4``) and peak memory: the child's
resident-set high-water mark (``VmHWM`` in ``/proc/PID/status``, read every few ms while it
runs), since tracemalloc cannot see into another process and ``ru_maxrss`` would count the
benchmark's own memory, copied into the child before it runs the new program.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks import dlt_peer
from benchmarks.measure import Result, Timing, ratio, timed_row
from benchmarks.sandbox_process import RemoteSandbox

ROOT = Path(__file__).resolve().parents[1]
WARM_TARGET = 1.1
EMPTY_FLOW = """
from prefect import flow

@flow(name="benchmark-empty-flow")
def empty() -> None:
    pass

empty()
"""
CORE_EXPORT = """
import asyncio, sys
from pathlib import Path
from prefect_botpenguin.core.atomic import replace_local_file
from prefect_botpenguin.core.client import BotPenguinClient
from prefect_botpenguin.core.formats import serialise

async def main(url: str, token: str, path: str) -> None:
    async with BotPenguinClient(token, base_url=url) as client:
        segments = await client.get_segments()
    replace_local_file(Path(path), serialise(segments, "parquet"))
    print(len(segments))

asyncio.run(main(*sys.argv[1:]))
"""
DLT_EXPORT = "from benchmarks.dlt_peer import main; main()"


@dataclass
class ProcessRun:
    wall: float
    cpu: float
    peak_mb: float
    stdout: str


def run_process(command: list[str], env: dict[str, str], timeout: float = 600) -> ProcessRun:
    """One child process to its end: wall time, its CPU and its peak RSS (``wait4``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed scripts
            command, stdout=out, stderr=err, env=env, cwd=ROOT
        )
        deadline = started + timeout
        peak_kb = 0
        while True:
            peak_kb = max(peak_kb, _high_water_kb(process.pid))
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                _, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # already reaped by wait4
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{command[1:4]} failed ({process.returncode}): {stderr[-1500:]}")
    return ProcessRun(wall, usage.ru_utime + usage.ru_stime, peak_kb / 1e3, stdout)


def _high_water_kb(pid: int) -> int:
    """The process's peak resident set so far (kB), or 0 once it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _botpenguin(*args: str) -> list[str]:
    return [sys.executable, "-m", "prefect_botpenguin", *args]


@contextlib.contextmanager
def warm_server(home: Path) -> Iterator[tuple[dict[str, str], str]]:
    """``botpenguin server start`` in ``home``; the environment commands see, and its API."""
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    for name in ("PREFECT_API_URL", "PREFECT_PROFILES_PATH", "PREFECT_PROFILE"):
        env.pop(name, None)
    port = str(_free_port())
    start = _botpenguin("server", "start", "--port", port, "--timeout", "300")
    try:
        run_process(start, env)
        yield env, f"http://127.0.0.1:{port}/api"
    finally:
        stop = _botpenguin("server", "stop")
        subprocess.run(stop, env=env, capture_output=True, check=False, timeout=120)  # noqa: S603


def _measure(
    reps: int, commands: dict[str, tuple[list[str], dict[str, str]]], check: dict[str, str]
) -> tuple[dict[str, Timing], dict[str, float]]:
    """Alternate the commands ``reps`` times (a warm-up each first when ``reps`` > 1)."""
    timings = {name: Timing() for name in commands}
    peaks: dict[str, float] = {name: 0.0 for name in commands}
    names = list(commands)
    if reps > 1:
        for command, env in commands.values():
            run_process(command, env)
    for rep in range(reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            command, env = commands[name]
            done = run_process(command, env)
            expected = check.get(name)
            if expected is not None and expected not in done.stdout:
                raise RuntimeError(f"{name}: {expected!r} not in its output: {done.stdout[-500:]}")
            timings[name].wall.append(done.wall)
            timings[name].cpu.append(done.cpu)
            peaks[name] = max(peaks[name], done.peak_mb)
    return timings, peaks


def _rows(
    case: str,
    timings: dict[str, Timing],
    peaks: dict[str, float],
    baseline: str,
    target: dict[str, float],
    notes: dict[str, str],
) -> list[Result]:
    rows = []
    for name, timing in timings.items():
        value = ratio(timing.median, timings[baseline].median)
        goal = target.get(name)
        rows.append(
            timed_row(
                case,
                name,
                timing,
                peak_mb=peaks[name],
                time_ratio=None if name == baseline else value,
                memory_ratio=None if name == baseline else ratio(peaks[name], peaks[baseline]),
                target=f"<= {goal}x" if goal else "",
                met=None if goal is None or value is None else value <= goal,
                note=notes.get(name, "peak RSS"),
            )
        )
    return rows


def process_rows(
    segments: int, reps: int, sandbox: RemoteSandbox, directory: Path, prefect: bool
) -> list[Result]:
    """The whole-process rows; without ``prefect`` only the two Prefect-free exports."""
    url, token = sandbox.url, sandbox.tokens[0]
    rows: list[Result] = []
    dlt_dir = directory / "dlt"
    dlt_env = {**os.environ, **dlt_peer.environment(dlt_dir)}
    core = "pack core: python -c, client + formats (no Prefect)"
    peer = "peer: python -c, dlt pipeline"
    exports: dict[str, tuple[list[str], dict[str, str]]] = {
        core: (
            [sys.executable, "-c", CORE_EXPORT, url, token, str(directory / "core.parquet")],
            dict(os.environ),
        ),
        peer: (
            [sys.executable, "-c", DLT_EXPORT, "one", url, token, str(dlt_dir), "parquet"],
            dlt_env,
        ),
    }
    check = {core: str(segments), peer: str(segments)}
    case = f"f. whole process: fetch {segments:,} segments + export to PARQUET"
    with contextlib.ExitStack() as stack:
        if prefect:
            env, api = stack.enter_context(warm_server(directory / "prefect-home"))
            cli = "pack: botpenguin export (warm botpenguin server)"
            account = {**env, "BOTPENGUIN_BASE_URL": url, "BOTPENGUIN_API_TOKEN": token}
            target = str(directory / "cli.parquet")
            exports = {cli: (_botpenguin("export", "--to", target), account), **exports}
            check[cli] = f"Wrote {segments} segment(s)"
            report = "pack: botpenguin report --sandbox (warm botpenguin server)"
            empty = "baseline: python -c, an empty flow on the same server"
            timings, peaks = _measure(
                reps,
                {
                    report: (_botpenguin("report", "--sandbox"), env),
                    empty: ([sys.executable, "-c", EMPTY_FLOW], {**env, "PREFECT_API_URL": api}),
                },
                {report: "runs on http://127.0.0.1"},
            )
            rows += _rows(
                "f. whole process: a flow from the terminal, server already running",
                timings,
                peaks,
                empty,
                {report: WARM_TARGET},
                {},
            )
        shutil.rmtree(dlt_dir, ignore_errors=True)
        timings, peaks = _measure(reps, exports, check)
        rows += _rows(
            case, timings, peaks, peer, {}, {peer: "peak RSS; pipeline folder kept between runs"}
        )
    return rows
