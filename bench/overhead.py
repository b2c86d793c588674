"""Per-step orchestration overhead of a 23-step no-op pipeline with the patient-risk shape.

(a) mlwright: its dev-server configuration, its worker setup and resource-class task queues
    (workflow on `pipelines`, steps on `io`/`cpu`/`training`, each queue its own worker);
(b) plain temporalio defaults: default dev server, one task queue, default Worker options;
(c) ablation: mlwright's workers and queues on a default-config dev server, to show what the
    server setting (history.transferProcessorMaxPollRPS) alone moves;
(d) ablation: (a) with the dev server's state in memory, to show what the durable SQLite file costs;
(e) ablation: plain temporalio Workers (default options, no codec, tracing or ledger) on (a)'s server
    and resource-class queues, to separate what the queue layout costs from what mlwright's workers add.

(a) keeps its state in a SQLite file, as `mlwright dev` does; (b), (c) and (d) use the default
in-memory store. All run in one process, alternating, so machine noise hits each alike.
Prints the median and quartiles of total time / 23 for each, and the ratios.

    python bench/overhead.py [--runs 15]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from shape import STEPS, ShapeWorkflow, noop
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from mlwright.cli import exit_now
from mlwright.client import client_options
from mlwright.devstack import temporal_binary, tuning_args
from mlwright.queues import QueueSet, Resource
from mlwright.settings import Settings
from workers.definitions import configure_worker


async def timed(client, task_queue: str, prefix: str | None) -> float:
    started = time.perf_counter()
    steps = await client.execute_workflow(ShapeWorkflow.run, prefix, id=f"bench-{uuid.uuid4()}",
                                          task_queue=task_queue)
    assert steps == STEPS
    return time.perf_counter() - started


def mlwright_workers(client, settings: Settings, queues: QueueSet):
    built = [configure_worker(client, Resource.PIPELINES, settings, queues, workflows=[ShapeWorkflow])]
    built += [configure_worker(client, r, settings, queues, activities=[noop]) for r in Resource
              if r is not Resource.PIPELINES]
    return built


async def main(runs: int) -> None:
    binary = temporal_binary()
    state = tempfile.mkdtemp()
    tuned = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary, **client_options(),
        dev_server_database_filename=f"{state}/temporal.db",
        dev_server_extra_args=tuning_args(Settings()))
    plain = await WorkflowEnvironment.start_local(dev_server_existing_path=binary)
    in_memory = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary, **client_options(),
        dev_server_extra_args=tuning_args(Settings(dev_sqlite_pragmas=[])))
    settings = Settings(environment="test", graceful_shutdown_s=0)
    queues = QueueSet(f"bench{uuid.uuid4().hex[:6]}-")
    built = mlwright_workers(tuned.client, settings, queues)
    ablation_queues = QueueSet(f"ablation{uuid.uuid4().hex[:6]}-")
    ablation = mlwright_workers(plain.client, settings, ablation_queues)
    memory_queues = QueueSet(f"memory{uuid.uuid4().hex[:6]}-")
    ablation += mlwright_workers(in_memory.client, settings, memory_queues)
    plain_queue = f"plain-{uuid.uuid4().hex[:6]}"
    bare = await Client.connect(tuned.client.service_client.config.target_host)
    bare_queues = QueueSet(f"bare{uuid.uuid4().hex[:6]}-")
    bare_pool = ThreadPoolExecutor(max_workers=8)
    bare_workers = [Worker(bare, task_queue=bare_queues.pipelines, workflows=[ShapeWorkflow])]
    bare_workers += [Worker(bare, task_queue=bare_queues[r], activities=[noop], activity_executor=bare_pool)
                     for r in Resource if r is not Resource.PIPELINES]
    plain_pool = ThreadPoolExecutor(max_workers=8)
    plain_worker = Worker(plain.client, task_queue=plain_queue, workflows=[ShapeWorkflow], activities=[noop],
                          activity_executor=plain_pool)
    variants = {
        "mlwright": lambda: timed(tuned.client, queues.pipelines, queues.prefix),
        "temporalio defaults": lambda: timed(plain.client, plain_queue, None),
        "mlwright, default server": lambda: timed(plain.client, ablation_queues.pipelines, ablation_queues.prefix),
        "mlwright, in-memory server": lambda: timed(in_memory.client, memory_queues.pipelines, memory_queues.prefix),
        "plain workers, mlwright queues": lambda: timed(bare, bare_queues.pipelines, bare_queues.prefix),
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    try:
        async with contextlib.AsyncExitStack() as stack:
            for worker in [*(w for w, _ in built + ablation), plain_worker, *bare_workers]:
                await stack.enter_async_context(worker)
            for _ in range(3):  # warm-up: worker caches, sticky queues, lazy imports
                for run in variants.values():
                    await run()
            for _ in range(runs):
                for name, run in variants.items():
                    results[name].append(await run())
    finally:
        for _, executor in built + ablation:
            if executor:
                executor.shutdown()
        plain_pool.shutdown()
        bare_pool.shutdown()
        await tuned.shutdown()
        await plain.shutdown()
        await in_memory.shutdown()

    print(f"23-step no-op pipeline, patient-risk shape (16-step critical path), {runs} runs each, alternating")
    print(f"{'setup':<32}{'median ms/step':>16}{'p25':>8}{'p75':>8}{'median total ms':>17}")
    medians = {}
    for name, totals in results.items():
        per_step = sorted(t * 1000 / STEPS for t in totals)
        q = statistics.quantiles(per_step, n=4)
        medians[name] = statistics.median(per_step)
        print(f"{name:<32}{medians[name]:>16.1f}{q[0]:>8.1f}{q[2]:>8.1f}{statistics.median(totals) * 1000:>17.0f}")
    base = medians["mlwright"]
    print(f"ratio defaults/mlwright: {medians['temporalio defaults'] / base:.2f}x; "
          f"default server/tuned server (same workers): {medians['mlwright, default server'] / base:.2f}x")
    # Each round's mlwright run against the defaults run beside it: load bursts from the rest of
    # the machine hit both sides of the ratio.
    paired = sorted(m / d for m, d in zip(results["mlwright"], results["temporalio defaults"], strict=True))
    pq = statistics.quantiles(paired, n=4)
    print(f"mlwright/defaults: ratio of medians {base / medians['temporalio defaults']:.2f}x; paired by round "
          f"median {statistics.median(paired):.2f}x (p25 {pq[0]:.2f}, p75 {pq[2]:.2f})")
    memory = sorted(m / f for m, f in zip(results["mlwright, in-memory server"], results["mlwright"], strict=True))
    mq = statistics.quantiles(memory, n=4)
    print(f"in-memory/SQLite-file server (same workers), paired by round: median {statistics.median(memory):.2f}x "
          f"(p25 {mq[0]:.2f}, p75 {mq[2]:.2f})")
    bare_ratio = sorted(m / b for m, b in zip(results["mlwright"], results["plain workers, mlwright queues"],
                                              strict=True))
    bq = statistics.quantiles(bare_ratio, n=4)
    print(f"mlwright/plain workers on the same server and queues, paired by round: median "
          f"{statistics.median(bare_ratio):.2f}x (p25 {bq[0]:.2f}, p75 {bq[2]:.2f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    asyncio.run(main(parser.parse_args().runs))
    exit_now(0)
