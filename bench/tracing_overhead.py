"""Per-step cost of tracing and of the step ledger: the 23-step no-op shape, on vs off, alternating.

Four setups, run by run in turn against one tuned dev server in one process, so machine noise hits
each alike:
  "off":            a client without the tracing plugin, workers without the ledger;
  "tracing":        mlwright's client options (workflow span, scheduling and activity spans with
                    attempt/queue attributes) exporting every span to the local SQLite span store,
                    as `mlwright dev` does;
  "ledger":         untraced, with the step-ledger interceptor writing one SQLite row per attempt;
  "tracing+ledger": both, as `mlwright dev` runs by default.
Prints median and quartiles of total time / 23 per setup, the difference to "off" per step (wall
and this process's CPU), the ratio, and the ledger write alone (one INSERT, timed in isolation).
``--probe-ledger`` also times every ledger write inside the benchmark (the attempt thread's CPU and
wall around ``StepLedgerInterceptor.write``): what a row costs among the workers, not alone.

    python bench/tracing_overhead.py [--runs 15] [--probe-ledger]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from overhead import mlwright_workers, timed
from shape import STEPS
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from mlwright import telemetry
from mlwright.cli import exit_now
from mlwright.client import client_options
from mlwright.devstack import temporal_binary, tuning_args
from mlwright.queues import QueueSet
from mlwright.settings import Settings
from mlwright.span_store import open_span_store
from mlwright.store import ledger
from mlwright.store.db import open_store


def ledger_write_ms(settings: Settings, n: int = 300) -> list[float]:
    engine = open_store(settings.resolved_database_url, sync_each_commit=False)  # as the worker's ledger
    now = datetime.now(UTC)
    times = []
    for i in range(n):
        row = {"pipeline": "Bench", "workflow_id": f"w{uuid.uuid4().hex}", "run_id": "r", "step": "noop",
               "activity_id": str(i), "attempt": 1, "queue": "q", "resource": "cpu", "started_at": now,
               "ended_at": now, "wall_s": 0.0, "cpu_s": 0.0, "peak_rss_delta_mb": 0.0, "outcome": "completed",
               "cost": 0.0}
        started = time.perf_counter()
        ledger.record(engine, [row])
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)


def probe_ledger_writes() -> tuple[list[float], list[float]]:
    """Wrap the interceptor's write to collect (thread CPU, wall) seconds per row written."""
    from mlwright.step_ledger import StepLedgerInterceptor

    cpu, wall = [], []
    write = StepLedgerInterceptor.write

    def timed_write(self, row, result=None):  # type: ignore[no-untyped-def]
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        write(self, row, result)
        cpu.append(time.thread_time() - cpu0)
        wall.append(time.perf_counter() - wall0)

    StepLedgerInterceptor.write = timed_write  # type: ignore[method-assign]
    return cpu, wall


async def main(runs: int, probe: bool = False) -> None:
    probed = probe_ledger_writes() if probe else None
    state = Path(tempfile.mkdtemp())
    settings = Settings(environment="test", graceful_shutdown_s=0, home=state, ledger=False)
    with_ledger = settings.model_copy(update={"ledger": True})
    telemetry.setup_tracing(settings, service="bench")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), **client_options(),
        dev_server_database_filename=f"{state}/temporal.db", dev_server_extra_args=tuning_args(Settings()))
    untraced = await Client.connect(env.client.service_client.config.target_host,
                                    data_converter=client_options()["data_converter"])
    setups = {"off": (untraced, settings), "tracing": (env.client, settings), "ledger": (untraced, with_ledger),
              "tracing+ledger": (env.client, with_ledger)}
    built, variants = [], {}
    for name, (client, s) in setups.items():
        queues = QueueSet(f"{name.replace('+', '')}{uuid.uuid4().hex[:6]}-")
        built += mlwright_workers(client, s, queues)
        variants[name] = (lambda c=client, q=queues: timed(c, q.pipelines, q.prefix))
    results: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    try:
        async with contextlib.AsyncExitStack() as stack:
            for worker, _ in built:
                await stack.enter_async_context(worker)
            for _ in range(3):  # warm-up: worker caches, sticky queues, lazy imports
                for run in variants.values():
                    await run()
            for _ in range(runs):
                for name, run in variants.items():
                    cpu_before = time.process_time()
                    results[name].append(await run())
                    # This process's CPU (workers, client, exporter thread): steadier than wall time on a
                    # shared machine; the dev server's share is the same either way.
                    cpu[name].append(time.process_time() - cpu_before)
    finally:
        for _, executor in built:
            if executor:
                executor.shutdown()
        await env.shutdown()
    telemetry.flush()
    rows = ledger_write_ms(with_ledger)

    print(f"23-step no-op pipeline, {runs} runs each, alternating; spans stored: {open_span_store(settings).count()}")
    print(f"{'setup':<16}{'median ms/step':>16}{'p25':>8}{'p75':>8}{'median total ms':>17}{'CPU ms/step':>13}")
    medians, cpu_ms = {}, {}
    for name, totals in results.items():
        per_step = sorted(t * 1000 / STEPS for t in totals)
        q = statistics.quantiles(per_step, n=4)
        medians[name] = statistics.median(per_step)
        cpu_ms[name] = statistics.median(cpu[name]) * 1000 / STEPS
        print(f"{name:<16}{medians[name]:>16.2f}{q[0]:>8.2f}{q[2]:>8.2f}{statistics.median(totals) * 1000:>17.0f}"
              f"{cpu_ms[name]:>13.2f}")
    for name in ("tracing", "ledger", "tracing+ledger"):
        print(f"{name} adds {medians[name] - medians['off']:+.2f} ms/step wall "
              f"(ratio {medians[name] / medians['off']:.2f}x), {cpu_ms[name] - cpu_ms['off']:+.2f} ms/step CPU")
    # Paired by round (each setup against the "off" run next to it): a burst of load from the
    # rest of the machine then moves both sides of a difference, not one.
    print("paired by round, ms/step added to the adjacent 'off' run: median (p25-p75)")
    for name in ("tracing", "ledger", "tracing+ledger"):
        wall = sorted((a - b) * 1000 / STEPS for a, b in zip(results[name], results["off"], strict=True))
        cpu_d = sorted((a - b) * 1000 / STEPS for a, b in zip(cpu[name], cpu["off"], strict=True))
        qw, qc = statistics.quantiles(wall, n=4), statistics.quantiles(cpu_d, n=4)
        print(f"  {name:<16} wall {statistics.median(wall):+.2f} ({qw[0]:+.2f} to {qw[2]:+.2f})   "
              f"CPU {statistics.median(cpu_d):+.2f} ({qc[0]:+.2f} to {qc[2]:+.2f})")
    q = statistics.quantiles(rows, n=4)
    print(f"ledger write alone (one INSERT ... ON CONFLICT DO NOTHING, SQLite WAL): median "
          f"{statistics.median(rows):.3f} ms, p25 {q[0]:.3f}, p75 {q[2]:.3f} over {len(rows)} rows")
    if probed:
        cpu_w, wall_w = probed
        print(f"ledger write inside the benchmark ({len(cpu_w)} rows, warm-up included): thread CPU median "
              f"{statistics.median(cpu_w) * 1000:.3f} ms (mean {statistics.mean(cpu_w) * 1000:.3f}), wall median "
              f"{statistics.median(wall_w) * 1000:.3f} ms (mean {statistics.mean(wall_w) * 1000:.3f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--probe-ledger", action="store_true", help="time every ledger write in the benchmark")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.probe_ledger))
    exit_now(0)
