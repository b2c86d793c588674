"""How fast `mlwright up` is ready, and how much memory each idle worker holds.

Each run gets its own temporary MLWRIGHT_HOME and free ports, and times, as a user would see it:
  fresh        `mlwright up` on an empty home, until it returns (every task queue polled);
  initialised  `mlwright down`, then `mlwright up` again on the same home.
After the fresh start, once every queue is polled and before the first step runs, it reads each
worker process's VmRSS from /proc. Fresh and initialised alternate within one run, so machine noise
hits both alike. Everything started is stopped (`mlwright down`) before the next run.

    python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Issue 10, items 3 and 4.
RSS_TARGET_MB = {"pipelines": 120, "io": 180, "cpu": 180, "training": 180}
UP_TARGET_S = {"fresh": 5.0, "initialised": 2.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "MLWRIGHT_HOME": str(home), "MLWRIGHT_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
           "MLWRIGHT_DEV_UI_PORT": str(free_port()), "MLWRIGHT_PHARMACY_URL": f"http://127.0.0.1:{free_port()}",
           "MLWRIGHT_FHIR_URL": f"http://127.0.0.1:{free_port()}/fhir",
           "MLWRIGHT_DEV_ALERT_INBOX_PORT": str(free_port()), "MLWRIGHT_CODEC_PORT": str(free_port())}
    for inherited in ("MLWRIGHT_ALERT_ROUTES", "MLWRIGHT_METRICS_PORT"):
        env.pop(inherited, None)
    return env


def mlwright(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "mlwright.cli", *args], env=env, capture_output=True, text=True,
                          timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"mlwright {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done


def timed_up(env: dict[str, str]) -> float:
    started = time.perf_counter()
    mlwright("up", "--timeout", "120", env=env)
    return time.perf_counter() - started


def worker_rss_mb(home: Path) -> dict[str, float]:
    """VmRSS of each `python -m workers <queue>` child of the stack's supervisor."""
    supervisor = int((home / "dev.pid").read_text())
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rpartition(")")[2].split()[1]) != supervisor:
                continue
            argv = (stat.parent / "cmdline").read_bytes().split(b"\0")
            status = (stat.parent / "status").read_text()
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
        if b"workers" in argv and argv.index(b"workers") > 0 and argv[argv.index(b"workers") - 1] == b"-m":
            queue = argv[argv.index(b"workers") + 1].decode()
            kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            found[queue] = kb / 1024
    return found


def spread(values: list[float]) -> str:
    return f"min {min(values):6.2f}  median {statistics.median(values):6.2f}  max {max(values):6.2f}"


def main(runs: int) -> None:
    times: dict[str, list[float]] = {"fresh": [], "initialised": []}
    rss: dict[str, list[float]] = {q: [] for q in RSS_TARGET_MB}
    for run in range(runs):
        with tempfile.TemporaryDirectory(prefix="mlwright-bench-startup-") as tmp:
            home = Path(tmp) / "home"
            env = stack_env(home)
            try:
                times["fresh"].append(timed_up(env))
                for queue, mb in worker_rss_mb(home).items():
                    rss[queue].append(mb)
                mlwright("down", env=env)
                times["initialised"].append(timed_up(env))
            finally:
                subprocess.run([sys.executable, "-m", "mlwright.cli", "down"], env=env, capture_output=True,
                               timeout=60)
        print(f"run {run + 1}/{runs}: fresh {times['fresh'][-1]:.2f} s, initialised "
              f"{times['initialised'][-1]:.2f} s", flush=True)
    print(f"\n`mlwright up` until every task queue is polled, {runs} runs (seconds):")
    for kind, values in times.items():
        print(f"  {kind:<12} {spread(values)}   target <= {UP_TARGET_S[kind]:.0f} s")
    print("\nidle worker RSS after ready (MB, VmRSS):")
    for queue, values in rss.items():
        if not values:
            print(f"  {queue:<10} not found")
            continue
        worst = max(values)
        verdict = "ok" if worst <= RSS_TARGET_MB[queue] else "OVER"
        print(f"  {queue:<10} {spread(values)}   target <= {RSS_TARGET_MB[queue]} MB  {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    main(parser.parse_args().runs)
