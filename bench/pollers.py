"""Worker poller options against each other: mlwright's tracing+ledger workers, alternating per round.

One tuned dev server, one process; each variant has its own queues and workers, otherwise as
workers/definitions.configure_worker builds them. Prints each variant's median ms/step (p25-p75)
and its per-round ratio to the SDK default (5 pollers per queue). --reverse runs the variants in
the opposite order (to rule out an order effect).

    python bench/pollers.py [--runs 20] [--reverse]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from overhead import timed
from shape import STEPS, ShapeWorkflow, noop
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import PollerBehaviorAutoscaling, PollerBehaviorSimpleMaximum, Worker

from mlwright import telemetry
from mlwright.cli import exit_now
from mlwright.client import client_options
from mlwright.devstack import temporal_binary, tuning_args
from mlwright.queues import QueueSet, Resource
from mlwright.settings import Settings
from mlwright.step_ledger import StepLedgerInterceptor
from workers.definitions import concurrency

VARIANTS = {
    "SDK default (5 pollers)": {},
    "autoscaling": {"workflow": {"workflow_task_poller_behavior": PollerBehaviorAutoscaling()},
                    "activity": {"activity_task_poller_behavior": PollerBehaviorAutoscaling()}},
    "2 pollers": {"workflow": {"workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(2)},
                  "activity": {"activity_task_poller_behavior": PollerBehaviorSimpleMaximum(2)}},
    "nonsticky ratio 0.5": {"workflow": {"nonsticky_to_sticky_poll_ratio": 0.5}},
}


def workers(client, settings: Settings, queues: QueueSet, options: dict):
    def ledger(r: Resource) -> list:
        return [StepLedgerInterceptor(settings, r.value)]

    built = [(Worker(client, task_queue=queues.pipelines, workflows=[ShapeWorkflow],
                     max_concurrent_workflow_tasks=concurrency(Resource.PIPELINES, settings),
                     interceptors=ledger(Resource.PIPELINES), **options.get("workflow", {})), None)]
    for r in Resource:
        if r is Resource.PIPELINES:
            continue
        pool = ThreadPoolExecutor(max_workers=concurrency(r, settings))
        built.append((Worker(client, task_queue=queues[r], activities=[noop], activity_executor=pool,
                             max_concurrent_activities=concurrency(r, settings), interceptors=ledger(r),
                             **options.get("activity", {})), pool))
    return built


async def main(runs: int, reverse: bool) -> None:
    state = Path(tempfile.mkdtemp())
    settings = Settings(environment="test", graceful_shutdown_s=0, home=state)
    telemetry.setup_tracing(settings, service="bench")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), **client_options(),
        dev_server_database_filename=f"{state}/temporal.db", dev_server_extra_args=tuning_args(Settings()))
    order = list(VARIANTS.items())[::-1] if reverse else list(VARIANTS.items())
    built, runners = [], {}
    for name, options in order:
        queues = QueueSet(f"p{uuid.uuid4().hex[:6]}-")
        built += workers(env.client, settings, queues, options)
        runners[name] = (lambda q=queues: timed(env.client, q.pipelines, q.prefix))
    results: dict[str, list[float]] = {name: [] for name in runners}
    try:
        async with contextlib.AsyncExitStack() as stack:
            for worker, _ in built:
                await stack.enter_async_context(worker)
            for _ in range(3):
                for run in runners.values():
                    await run()
            for _ in range(runs):
                for name, run in runners.items():
                    results[name].append(await run() * 1000 / STEPS)
    finally:
        for _, pool in built:
            if pool:
                pool.shutdown()
        await env.shutdown()
    base = results["SDK default (5 pollers)"]
    print(f"23-step no-op shape, tracing + ledger, {runs} rounds, order: {', '.join(runners)}")
    for name, values in results.items():
        q = statistics.quantiles(values, n=4)
        paired = statistics.median(v / b for v, b in zip(values, base, strict=True))
        print(f"{name:<26}{statistics.median(values):7.2f} ms/step ({q[0]:.2f}-{q[2]:.2f})   "
              f"paired / SDK default {paired:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--reverse", action="store_true")
    a = parser.parse_args()
    asyncio.run(main(a.runs, a.reverse))
    exit_now(0)
