"""Throughput of N concurrent 23-step no-op pipelines (patient-risk shape), mlwright vs plain temporalio.

(a) mlwright as deployed: its dev-server tuning and SQLite state file, one worker process per
    resource-class queue (`pipelines`, `io`, `cpu`, `training`) built by configure_worker with the
    settings' limits, its client (payload encryption, tracing to the span store) and step ledger;
(b) plain temporalio defaults: a default dev server (in-memory state), one task queue, one worker
    process with default Worker options.

Each setup has its own server and worker processes, started once; rounds alternate between the
setups (and swap which goes first), so machine noise hits each alike. A round starts N pipelines at
once and waits for all; one still open after --timeout is counted stuck (and terminated), one that
failed is counted failed. Per round: pipelines/s and activities/s (over first start to last
completion), per-pipeline latency p50/p99 (start call to result), peak RSS of the worker processes
(summed) and of the server, sampled from /proc, and the CPU seconds they used per 1000 steps.
Prints medians over the rounds and the activities/s ratio of the same repetition, mlwright/defaults.

    python bench/throughput.py [--sizes 10 100 500] [--repeats 3] [--timeout 300]
                               [--setting MLWRIGHT_CPU_CONCURRENCY=8 ...] [--server-config KEY=VALUE ...]
                               [--json out.json]

--setting changes mlwright's setup (its server tuning and its workers read the same settings);
--server-config adds a third setup, mlwright with these dynamic-config values on its dev server, to
compare a server tuning with mlwright's current one and the defaults in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from procs import cpu_s
from shape import STEPS, ShapeWorkflow
from temporalio.client import Client, WorkflowHandle

from mlwright import visibility
from mlwright.cli import exit_now
from mlwright.client import connect
from mlwright.devstack import temporal_binary, tuning_args
from mlwright.queues import QueueSet, Resource
from mlwright.readiness import wait_for_workers
from mlwright.settings import Settings
from mlwright.store.db import open_store

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ProcSampler(threading.Thread):
    """Peak RSS per process, read from /proc every few ms: VmHWM would hold the peak of earlier rounds."""

    def __init__(self, pids: dict[str, int], every_s: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pids, self.every_s = pids, every_s
        self.peaks: dict[str, int] = dict.fromkeys(pids, 0)
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            for name, pid in self.pids.items():
                self.peaks[name] = max(self.peaks[name], rss_kb(pid))
            self._done.wait(self.every_s)

    def stop(self) -> dict[str, int]:
        self._done.set()
        self.join()
        return self.peaks


def rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@dataclass
class Setup:
    """One side of the comparison: its server, its worker processes and where to start pipelines."""

    name: str
    server: subprocess.Popen
    client: Client
    task_queue: str
    prefix: str | None  # the shape's argument: None keeps every step on the workflow's queue
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)

    def pids(self) -> dict[str, int]:
        return {"server": self.server.pid, **{f"worker-{q}": p.pid for q, p in self.workers.items()}}

    def stop(self) -> None:
        for proc in [*self.workers.values(), self.server]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers.values(), self.server]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class Round:
    setup: str
    n: int
    repeat: int
    completed: int
    failed: int
    stuck: int
    elapsed_s: float
    latencies_s: list[float]
    worker_peak_mb: float
    server_peak_mb: float
    worker_cpu_s: float
    server_cpu_s: float

    @property
    def pipelines_per_s(self) -> float:
        return self.completed / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def activities_per_s(self) -> float:
        return self.completed * STEPS / self.elapsed_s if self.elapsed_s else 0.0


def start_server(args: list[str], log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [temporal_binary(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
               "--http-port", str(free_port()), "--metrics-port", str(free_port()),
               "--headless", "--log-level", "warn", *args]
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    return proc, f"127.0.0.1:{port}"


async def wait_healthy(proc: subprocess.Popen, address: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    check = [temporal_binary(), "operator", "cluster", "health", "--address", address]
    while subprocess.run(check, capture_output=True).returncode != 0:
        if proc.poll() is not None:
            raise RuntimeError(f"the dev server at {address} exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the dev server at {address} was not healthy after {timeout_s}s")
        await asyncio.sleep(0.2)


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, str(HERE / "shape_worker.py"), *argv], env=env,
                                stdout=out, stderr=subprocess.STDOUT)


async def start_mlwright(root: Path, server_config: list[str], name: str = "mlwright") -> Setup:
    home = root / name
    settings = Settings(home=home, task_queue_prefix=f"tp{uuid.uuid4().hex[:6]}-")
    home.mkdir(parents=True)
    server, address = start_server(["--db-filename", str(home / "temporal.db"), *tuning_args(settings),
                                    *visibility.dev_server_args(),
                                    *(arg for value in server_config for arg in ("--dynamic-config-value", value))],
                                   root / f"{name}-server.log")
    settings = settings.model_copy(update={"temporal_address": address})
    await wait_healthy(server, address)
    # As `mlwright dev` does before its workers start: the store schema (the ledger's table) and,
    # through the first client, the development payload key, rather than four processes racing.
    open_store(settings.resolved_database_url).dispose()
    client = await connect(settings)
    queues = QueueSet(settings.task_queue_prefix)
    env = {**os.environ, "MLWRIGHT_HOME": str(home), "MLWRIGHT_TEMPORAL_ADDRESS": address,
           "MLWRIGHT_TASK_QUEUE_PREFIX": settings.task_queue_prefix, "MLWRIGHT_LOG_LEVEL": "WARNING",
           "MLWRIGHT_GRACEFUL_SHUTDOWN_S": "0"}
    setup = Setup(name, server, client, queues.pipelines, queues.prefix)
    setup.workers = {r.value: spawn(["mlwright", r.value], env, root / f"{name}-{r.value}.log") for r in Resource}
    await wait_for_workers(client, queues, timeout_s=120)
    return setup


async def start_plain(root: Path) -> Setup:
    server, address = start_server([], root / "plain-server.log")
    await wait_healthy(server, address)
    client = await Client.connect(address)
    queue = f"plain-{uuid.uuid4().hex[:6]}"
    setup = Setup("temporalio defaults", server, client, queue, None)
    setup.workers = {"all": spawn(["plain", address, queue], dict(os.environ), root / "plain-worker.log")}
    while not await has_workflow_poller(client, queue):
        if setup.workers["all"].poll() is not None:
            raise RuntimeError(f"the plain worker exited; see {root / 'plain-worker.log'}")
        await asyncio.sleep(0.3)
    return setup


async def has_workflow_poller(client: Client, queue: str) -> bool:
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=queue)))
    return bool(response.pollers)


async def run_round(setup: Setup, n: int, repeat: int, timeout_s: float) -> Round:
    pids = setup.pids()
    sampler = ProcSampler(pids)
    cpu_before = {name: cpu_s(pid) for name, pid in pids.items()}
    sampler.start()
    latencies: list[float] = []
    still_open: dict[int, WorkflowHandle] = {}
    failed = 0
    last_done = started = time.perf_counter()

    async def one(i: int) -> None:
        nonlocal failed, last_done
        t0 = time.perf_counter()
        try:
            handle = await setup.client.start_workflow(ShapeWorkflow.run, setup.prefix, task_queue=setup.task_queue,
                                                       id=f"tp-{n}-{repeat}-{i}-{uuid.uuid4().hex[:6]}")
            still_open[i] = handle
            if await handle.result() != STEPS:
                raise RuntimeError("the shape ran the wrong number of steps")
        except Exception:
            failed += 1
            return
        finally:
            if not asyncio.current_task().cancelling():
                still_open.pop(i, None)
        last_done = time.perf_counter()
        latencies.append(last_done - t0)

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    _, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:
        task.cancel()
    peaks = sampler.stop()
    cpu = {name: cpu_s(pid) - cpu_before[name] for name, pid in pids.items()}
    for handle in still_open.values():  # stuck runs must not load the next round
        with contextlib.suppress(Exception):
            await handle.terminate("throughput bench: stuck past the timeout")
    workers = [name for name in pids if name != "server"]
    return Round(setup.name, n, repeat, len(latencies), failed, len(pending), last_done - started,
                 sorted(latencies), sum(peaks[w] for w in workers) / 1024, peaks["server"] / 1024,
                 sum(cpu[w] for w in workers), cpu["server"])


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


def report(rounds: list[Round], sizes: list[int], setups: list[str]) -> None:
    print(f"\n{STEPS}-step no-op pipelines (patient-risk shape), N at once; medians over "
          f"{max(r.repeat for r in rounds) + 1} alternating rounds")
    header = (f"{'N':>4} {'setup':<20}{'pipel/s':>9}{'activ/s':>9}{'p50 s':>8}{'p99 s':>8}"
              f"{'workers MB':>11}{'server MB':>10}{'cpu s/1k steps w+s':>20}{'failed':>7}{'stuck':>6}")
    print(header)
    for n in sizes:
        for name in setups:
            rs = [r for r in rounds if r.n == n and r.setup == name]
            steps_k = sum(r.completed for r in rs) * STEPS / 1000 or float("nan")
            cpu = f"{sum(r.worker_cpu_s for r in rs) / steps_k:.2f}+{sum(r.server_cpu_s for r in rs) / steps_k:.2f}"
            print(f"{n:>4} {name:<20}{med(rs, 'pipelines_per_s'):>9.1f}{med(rs, 'activities_per_s'):>9.0f}"
                  f"{statistics.median(quantile(r.latencies_s, 0.5) for r in rs):>8.2f}"
                  f"{statistics.median(quantile(r.latencies_s, 0.99) for r in rs):>8.2f}"
                  f"{max(r.worker_peak_mb for r in rs):>11.0f}{max(r.server_peak_mb for r in rs):>10.0f}"
                  f"{cpu:>20}{sum(r.failed for r in rs):>7}{sum(r.stuck for r in rs):>6}")
    base = setups[-1]
    for n in sizes:
        for name in setups[:-1]:
            ratios = []
            for repeat in sorted({r.repeat for r in rounds}):
                same = {r.setup: r.activities_per_s for r in rounds if r.n == n and r.repeat == repeat}
                if same.get(base) and name in same:
                    ratios.append(same[name] / same[base])
            if ratios:
                print(f"N={n}: activities/s {name} / {base}, per round: "
                      f"{' '.join(f'{x:.2f}' for x in ratios)}; median {statistics.median(ratios):.2f}x")


def med(rounds: list[Round], attribute: str) -> float:
    return statistics.median(getattr(r, attribute) for r in rounds)


async def main(sizes: list[int], repeats: int, timeout_s: float, server_config: list[str],
               json_path: Path | None) -> None:
    root = Path(tempfile.mkdtemp(prefix="mlwright-throughput-"))
    setups: list[Setup] = []
    rounds: list[Round] = []
    try:
        setups.append(await start_mlwright(root, []))
        if server_config:
            setups.append(await start_mlwright(root, server_config, name="mlwright+config"))
        setups.append(await start_plain(root))
        for setup in setups:  # warm-up: imports, sticky caches, the servers' first queue partitions
            await run_round(setup, min(sizes), -1, timeout_s)
        for repeat in range(repeats):
            for n in sizes:
                order = setups[repeat % len(setups):] + setups[:repeat % len(setups)]
                for setup in order:
                    rounds.append(await run_round(setup, n, repeat, timeout_s))
                    r = rounds[-1]
                    print(f"round {repeat} N={n} {setup.name}: {r.activities_per_s:.0f} activities/s, "
                          f"{r.completed} done, {r.failed} failed, {r.stuck} stuck", flush=True)
    finally:
        for setup in setups:
            setup.stop()
    report(rounds, sizes, [s.name for s in setups])
    if server_config:
        print(f"mlwright+config: {' '.join(server_config)}")
    print(f"logs: {root}")
    if json_path:
        json_path.write_text(json.dumps([{**asdict(r), "activities_per_s": r.activities_per_s,
                                          "pipelines_per_s": r.pipelines_per_s} for r in rounds]))


def env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.startswith("MLWRIGHT_"):
        raise argparse.ArgumentTypeError(f"expected MLWRIGHT_NAME=VALUE, got {text!r}")
    return name, value


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300, help="seconds a round may take; then stuck")
    parser.add_argument("--setting", type=env_pair, nargs="*", default=[],
                        help="MLWRIGHT_NAME=VALUE for mlwright's setup (to try a tuning)")
    parser.add_argument("--server-config", nargs="*", default=[],
                        help="KEY=VALUE dynamic config for mlwright's dev server (to try a tuning)")
    parser.add_argument("--json", type=Path, help="also write every round's figures here")
    args = parser.parse_args()
    # Through the environment, as an operator would set them: Settings() here and in every worker reads them.
    os.environ.update(dict(args.setting))
    asyncio.run(main(args.sizes, args.repeats, args.timeout, args.server_config, args.json))
    exit_now(0)
