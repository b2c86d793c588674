"""How fast `mlwright up` is ready, and how much memory each idle worker holds.

Each run gets its own temporary MLWRIGHT_HOME and free ports, and times, as a user would see it:
  fresh        `mlwright up` on an empty home, until it returns (every task queue polled);
  initialised  `mlwright down`, then `mlwright up` again on the same home.
After the fresh start, once every queue is polled and before the first step runs, it reads each
worker process's VmRSS from /proc once it has settled (a preloading worker is still importing its
step code when it starts polling). ``MLWRIGHT_WORKER_PRELOAD=false`` in the environment measures
workers that import step code on first use. Fresh and initialised alternate within one run, so machine noise
hits both alike. Everything started is stopped (`mlwright down`) before the next run.

With ``--baseline DIR`` (another checkout, e.g. ``git archive main | tar -x -C DIR``) each run
also starts that code's stack, alternating with this one, and the ratios of the medians are printed.

    python bench/startup.py [--runs 5] [--baseline DIR] [--imports] [--first-step]

``--imports`` prints only what each worker process spends before it connects (CPU seconds and peak
RSS of its imports, store and activities), the part of a start this work changed. ``--first-step``
prints what the first step waits for on a worker that preloaded nothing, and after its library preload.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# Issue 10, items 3 and 4.
RSS_TARGET_MB = {"pipelines": 120, "io": 180, "cpu": 180, "training": 180}
UP_TARGET_S = {"fresh": 5.0, "initialised": 2.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HERE = Path(__file__).resolve().parents[1]


def stack_env(home: Path, code: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(code), "MLWRIGHT_HOME": str(home), "MLWRIGHT_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
           "MLWRIGHT_DEV_UI_PORT": str(free_port()), "MLWRIGHT_PHARMACY_URL": f"http://127.0.0.1:{free_port()}",
           "MLWRIGHT_FHIR_URL": f"http://127.0.0.1:{free_port()}/fhir",
           "MLWRIGHT_DEV_ALERT_INBOX_PORT": str(free_port()), "MLWRIGHT_CODEC_PORT": str(free_port())}
    for inherited in ("MLWRIGHT_ALERT_ROUTES", "MLWRIGHT_METRICS_PORT"):
        env.pop(inherited, None)
    return env


def mlwright(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # The checkout under test is the working directory and PYTHONPATH of the stack's every process.
    done = subprocess.run([sys.executable, "-m", "mlwright.cli", *args], env=env, capture_output=True, text=True,
                          timeout=180, cwd=env["PYTHONPATH"])
    if done.returncode != 0:
        raise RuntimeError(f"mlwright {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done


def timed_up(env: dict[str, str]) -> float:
    started = time.perf_counter()
    mlwright("up", "--timeout", "120", env=env)
    return time.perf_counter() - started


def worker_rss_mb(home: Path) -> dict[str, float]:
    """VmRSS of each `python -m workers <queue>` child of the stack's supervisor (exec'd or forked)."""
    supervisor = int((home / "dev.pid").read_text())
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rpartition(")")[2].split()[1]) != supervisor:
                continue
            argv = (stat.parent / "cmdline").read_bytes().split(b"\0")
            comm = (stat.parent / "comm").read_text().strip()
            status = (stat.parent / "status").read_text()
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
        # A worker forked by `mlwright dev` keeps the supervisor's command line; its name tells.
        forked = [q for q in RSS_TARGET_MB if comm == f"worker-{q}"[:15]]
        if forked or (b"workers" in argv and argv.index(b"workers") > 0 and argv[argv.index(b"workers") - 1] == b"-m"):
            queue = forked[0] if forked else argv[argv.index(b"workers") + 1].decode()
            kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            found[queue] = kb / 1024
    return found


def spread(values: list[float]) -> str:
    return f"min {min(values):6.2f}  median {statistics.median(values):6.2f}  max {max(values):6.2f}"


def settled_rss_mb(home: Path, within_mb: float = 1.0, quiet_s: float = 1.0, limit_s: float = 60.0) -> dict[str, float]:
    """Worker RSS once no worker's has moved by more than ``within_mb`` for ``quiet_s``: a worker
    that preloads its step code (MLWRIGHT_WORKER_PRELOAD, the default) is idle only after that."""
    last, since, deadline = worker_rss_mb(home), time.monotonic(), time.monotonic() + limit_s
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = worker_rss_mb(home)
        if now.keys() != last.keys() or any(abs(now[q] - last[q]) > within_mb for q in now):
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return last


# What `python -m workers <queue>` does before it connects: import, build its activities (and, in
# code before DepsOnFirstUse, open the store). Printed: CPU seconds and peak RSS of that alone,
# which load on the machine barely moves.
WORKER_START = """
import json, resource, sys, tempfile
import workers.__main__, workers.serve
from mlwright.queues import Resource
from mlwright.settings import Settings
from workers import definitions

queue = Resource(sys.argv[1])
if queue is not Resource.PIPELINES:
    settings = Settings(home=tempfile.mkdtemp())
    if hasattr(definitions, "DepsOnFirstUse"):
        deps = definitions.DepsOnFirstUse(settings)
    else:
        from activities.deps import ActivityDeps
        deps = ActivityDeps.from_settings(settings)
    definitions.activities_for(queue, deps, settings)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"cpu_s": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}))
"""


# What a step that arrives first waits for: its queue's step code (every io/cpu class imports pandas
# and pyarrow) and the store, on a worker that preloaded nothing or only its libraries (PRELOAD).
# Wall and CPU seconds, and RSS after.
FIRST_STEP = """
import json, resource, sys, tempfile, time
import workers.__main__, workers.serve
from mlwright.queues import Resource
from mlwright.settings import Settings
from workers import definitions

settings = Settings(home=tempfile.mkdtemp())
if sys.argv[2] == "after-preload" and hasattr(definitions, "preload_libraries"):
    definitions.preload_libraries([Resource(sys.argv[1])])  # what an idle worker did in the background
before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
definitions.import_activity_classes([Resource(sys.argv[1])], definitions.DepsOnFirstUse(settings))
wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "rss_mb": after.ru_maxrss / 1024}))
"""


def first_step_cost(code: Path, queue: str, preloaded: bool = False) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", FIRST_STEP, queue, "after-preload" if preloaded else "cold"], cwd=code, env={**os.environ,
                          "PYTHONPATH": str(code)}, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def first_step_only(runs: int, code: Path) -> None:
    for preloaded, title in ((False, "without preload"), (True, "after the worker's library preload")):
        costs = {q: [first_step_cost(code, q, preloaded) for _ in range(runs)] for q in ("io", "cpu", "training")}
        print(f"\nfirst step's wait {title} (step code + store), {runs} runs, medians:")
        for queue, values in costs.items():
            print(f"  {queue:<10} wall {statistics.median(v['wall_s'] for v in values):5.2f} s, cpu "
                  f"{statistics.median(v['cpu_s'] for v in values):5.2f} s")


def worker_start_cost(code: Path, queue: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", WORKER_START, queue], cwd=code, env={**os.environ,
                          "PYTHONPATH": str(code)}, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def imports_only(runs: int, setups: dict[str, Path]) -> None:
    costs = {name: {q: [] for q in RSS_TARGET_MB} for name in setups}
    for _ in range(runs):
        for queue in RSS_TARGET_MB:
            for name, code in setups.items():
                costs[name][queue].append(worker_start_cost(code, queue))
    print(f"\nworker start before connecting (imports + store + activities), {runs} runs, medians:")
    for queue in RSS_TARGET_MB:
        line = []
        for name in setups:
            values = costs[name][queue]
            line.append(f"{name}: cpu {statistics.median(v['cpu_s'] for v in values):5.2f} s, "
                        f"peak RSS {statistics.median(v['rss_mb'] for v in values):4.0f} MB")
        print(f"  {queue:<10} " + "  |  ".join(line))


@dataclass
class Figures:
    times: dict[str, list[float]] = field(default_factory=lambda: {"fresh": [], "initialised": []})
    rss: dict[str, list[float]] = field(default_factory=lambda: {q: [] for q in RSS_TARGET_MB})


def one_run(code: Path, figures: Figures) -> None:
    with tempfile.TemporaryDirectory(prefix="mlwright-bench-startup-") as tmp:
        home = Path(tmp) / "home"
        env = stack_env(home, code)
        try:
            figures.times["fresh"].append(timed_up(env))
            for queue, mb in settled_rss_mb(home).items():
                figures.rss[queue].append(mb)
            mlwright("down", env=env)
            figures.times["initialised"].append(timed_up(env))
        finally:
            subprocess.run([sys.executable, "-m", "mlwright.cli", "down"], env=env, capture_output=True,
                           timeout=60, cwd=code)


def report(name: str, runs: int, figures: Figures) -> None:
    print(f"\n{name}: `mlwright up` until every task queue is polled, {runs} runs (seconds):")
    for kind, values in figures.times.items():
        print(f"  {kind:<12} {spread(values)}   target <= {UP_TARGET_S[kind]:.0f} s")
    print(f"{name}: idle worker RSS after ready (MB, VmRSS):")
    for queue, values in figures.rss.items():
        if not values:
            print(f"  {queue:<12} not found")
            continue
        verdict = "ok" if max(values) <= RSS_TARGET_MB[queue] else "OVER"
        print(f"  {queue:<12} {spread(values)}   target <= {RSS_TARGET_MB[queue]} MB  {verdict}")


def main(runs: int, baseline: Path | None, imports: bool, first_step: bool = False) -> None:
    setups = {"this checkout": HERE, **({f"baseline {baseline}": baseline.resolve()} if baseline else {})}
    if imports:
        imports_only(runs, setups)
        return
    if first_step:
        first_step_only(runs, HERE)
        return
    figures = {name: Figures() for name in setups}
    for run in range(runs):
        for name, code in setups.items():
            one_run(code, figures[name])
            t = figures[name].times
            print(f"run {run + 1}/{runs} {name}: fresh {t['fresh'][-1]:.2f} s, initialised "
                  f"{t['initialised'][-1]:.2f} s", flush=True)
    for name in setups:
        report(name, runs, figures[name])
    if baseline:
        this, base = figures["this checkout"], figures[f"baseline {baseline}"]
        print("\nthis checkout / baseline, ratio of medians:")
        for kind in this.times:
            print(f"  up {kind:<12} {statistics.median(this.times[kind]) / statistics.median(base.times[kind]):.2f}")
        for queue in this.rss:
            if this.rss[queue] and base.rss[queue]:
                print(f"  rss {queue:<11} {statistics.median(this.rss[queue]) / statistics.median(base.rss[queue]):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout to alternate with")
    parser.add_argument("--imports", action="store_true", help="only each worker's start before connecting")
    parser.add_argument("--first-step", action="store_true",
                        help="only what a first step waits for, without and after the library preload")
    args = parser.parse_args()
    main(args.runs, args.baseline, args.imports, args.first_step)
