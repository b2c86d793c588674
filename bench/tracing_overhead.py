"""Per-step cost of tracing: the 23-step no-op shape with mlwright's tracing on vs off, alternating.

"on": mlwright's client options (workflow span, scheduling and activity spans with attempt/queue
attributes) exporting every span to the local SQLite span store, as `mlwright dev` does.
"off": the same workers and dev server through a client without the tracing plugin.
Both run against one tuned dev server in one process, alternating run by run, so machine noise hits
each alike. Prints medians and quartiles of total time / 23 and the difference per step.

    python bench/tracing_overhead.py [--runs 15]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
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


async def main(runs: int) -> None:
    state = Path(tempfile.mkdtemp())
    settings = Settings(environment="test", graceful_shutdown_s=0, home=state)
    telemetry.setup_tracing(settings, service="bench")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), **client_options(),
        dev_server_database_filename=f"{state}/temporal.db", dev_server_extra_args=tuning_args(Settings()))
    untraced = await Client.connect(env.client.service_client.config.target_host,
                                    data_converter=client_options()["data_converter"])
    on, off = QueueSet(f"on{uuid.uuid4().hex[:6]}-"), QueueSet(f"off{uuid.uuid4().hex[:6]}-")
    built = mlwright_workers(env.client, settings, on) + mlwright_workers(untraced, settings, off)
    variants = {"tracing on": lambda: timed(env.client, on.pipelines, on.prefix),
                "tracing off": lambda: timed(untraced, off.pipelines, off.prefix)}
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

    print(f"23-step no-op pipeline, {runs} runs each, alternating; spans stored: {open_span_store(settings).count()}")
    print(f"{'setup':<14}{'median ms/step':>16}{'p25':>8}{'p75':>8}{'median total ms':>17}{'CPU ms/step':>13}")
    medians, cpu_ms = {}, {}
    for name, totals in results.items():
        per_step = sorted(t * 1000 / STEPS for t in totals)
        q = statistics.quantiles(per_step, n=4)
        medians[name] = statistics.median(per_step)
        cpu_ms[name] = statistics.median(cpu[name]) * 1000 / STEPS
        print(f"{name:<14}{medians[name]:>16.2f}{q[0]:>8.2f}{q[2]:>8.2f}{statistics.median(totals) * 1000:>17.0f}"
              f"{cpu_ms[name]:>13.2f}")
    print(f"tracing adds {medians['tracing on'] - medians['tracing off']:+.2f} ms/step wall "
          f"(ratio {medians['tracing on'] / medians['tracing off']:.2f}x), "
          f"{cpu_ms['tracing on'] - cpu_ms['tracing off']:+.2f} ms/step CPU")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    asyncio.run(main(parser.parse_args().runs))
    exit_now(0)
