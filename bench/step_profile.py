"""Where a step's time goes: each run's history cut into segments, mlwright's setups side by side.

For every activity of the 23-step no-op shape the server's own event times give:
  activity dispatch   ActivityTaskScheduled -> ActivityTaskStarted (transfer queue, matching, poll)
  activity worker     ActivityTaskStarted -> ActivityTaskCompleted (hand-off to the worker, decode,
                      interceptors, the thread pool, encode, respond)
and for every workflow task:
  WFT dispatch        WorkflowTaskScheduled -> WorkflowTaskStarted
  WFT processing      WorkflowTaskStarted -> WorkflowTaskCompleted (activation, sandbox, codec, commands)
Setups alternate run by run against one tuned dev server in one process (as bench/tracing_overhead.py).
Extra dev-server flags can be tried with --server-arg (repeatable), e.g.
``--server-arg=--dynamic-config-value --server-arg=matching.numTaskqueueReadPartitions=1``.

Run it under ``py-spy record`` to see where the worker side's time goes in Python.

    python bench/step_profile.py [--runs 20] [--setups off tracing+ledger one-queue]

``one-queue`` is plain temporalio Workers (no codec, tracing or ledger) with the workflow and its
activities on one queue of the same server: the SDK then dispatches each activity eagerly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from overhead import mlwright_workers
from shape import STEPS, ShapeWorkflow, noop
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from mlwright import telemetry
from mlwright.cli import exit_now
from mlwright.client import client_options
from mlwright.devstack import temporal_binary, tuning_args
from mlwright.queues import QueueSet
from mlwright.settings import Settings

SEGMENTS = ("activity dispatch", "activity worker", "WFT dispatch", "WFT processing")
ONE_QUEUE = "one-queue"  # --setups name of plain temporalio Workers on a single queue


def segments(history) -> dict[str, list[float]]:
    """Milliseconds per segment (see the module docstring) of one run's history."""
    at = {e.event_id: e.event_time.ToNanoseconds() / 1e6 for e in history.events}
    out: dict[str, list[float]] = defaultdict(list)
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            out["activity dispatch"].append(at[e.event_id] - at[e.activity_task_started_event_attributes.scheduled_event_id])
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            out["activity worker"].append(at[e.event_id] - at[e.activity_task_completed_event_attributes.started_event_id])
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            out["WFT dispatch"].append(at[e.event_id] - at[e.workflow_task_started_event_attributes.scheduled_event_id])
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            out["WFT processing"].append(at[e.event_id] - at[e.workflow_task_completed_event_attributes.started_event_id])
    return out


async def run_once(client: Client, task_queue: str, prefix: str | None) -> tuple[float, dict[str, list[float]]]:
    started = time.perf_counter()
    handle = await client.start_workflow(ShapeWorkflow.run, prefix, id=f"profile-{uuid.uuid4()}",
                                         task_queue=task_queue)
    assert await handle.result() == STEPS
    total = time.perf_counter() - started
    return total, segments(await handle.fetch_history())


def q(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.2f}" if values else "-"
    p = statistics.quantiles(values, n=4)
    return f"{statistics.median(values):6.2f} ({p[0]:.2f}-{p[2]:.2f})"


async def main(runs: int, names: list[str], server_args: list[str]) -> None:
    state = Path(tempfile.mkdtemp())
    settings = Settings(environment="test", graceful_shutdown_s=0, home=state, ledger=False)
    with_ledger = settings.model_copy(update={"ledger": True})
    telemetry.setup_tracing(settings, service="bench")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), **client_options(),
        dev_server_database_filename=f"{state}/temporal.db",
        dev_server_extra_args=[*tuning_args(Settings()), *server_args])
    untraced = await Client.connect(env.client.service_client.config.target_host,
                                    data_converter=client_options()["data_converter"])
    all_setups = {"off": (untraced, settings), "tracing": (env.client, settings), "ledger": (untraced, with_ledger),
                  "tracing+ledger": (env.client, with_ledger)}
    built, plain, variants = [], [], {}
    for name in names:
        if name == ONE_QUEUE:
            # The SDK's defaults on one queue, on the same server: each activity is dispatched eagerly
            # in the workflow task's reply, so its history shows what matching costs mlwright's queues.
            queue = f"onequeue{uuid.uuid4().hex[:6]}"
            pool = ThreadPoolExecutor(max_workers=8)
            plain.append(Worker(untraced, task_queue=queue, workflows=[ShapeWorkflow], activities=[noop],
                                activity_executor=pool))
            built.append((None, pool))
            variants[name] = (untraced, queue, None)
            continue
        client, s = all_setups[name]
        queues = QueueSet(f"{name.replace('+', '')}{uuid.uuid4().hex[:6]}-")
        built += mlwright_workers(client, s, queues)
        variants[name] = (client, queues.pipelines, queues.prefix)
    totals: dict[str, list[float]] = defaultdict(list)
    cuts: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    try:
        async with contextlib.AsyncExitStack() as stack:
            for worker in [*(w for w, _ in built if w is not None), *plain]:
                await stack.enter_async_context(worker)
            for _ in range(3):
                for variant in variants.values():
                    await run_once(*variant)
            print("measuring", flush=True)  # py-spy can attach now: warm-up and worker start are done
            for _ in range(runs):
                for name, variant in variants.items():
                    total, cut = await run_once(*variant)
                    totals[name].append(total * 1000 / STEPS)
                    for segment, values in cut.items():
                        cuts[name][segment] += values
    finally:
        print("measured", flush=True)
        for _, executor in built:
            if executor:
                executor.shutdown()
        await env.shutdown()

    print(f"23-step no-op shape, {runs} runs per setup, alternating; server args: {server_args or 'mlwright tuning'}")
    print("median ms (p25-p75) over every activity / workflow task of every run; per step = total / 23")
    print(f"{'segment':<20}" + "".join(f"{n:>28}" for n in variants))
    print(f"{'per step (total/23)':<20}" + "".join(f"{q(totals[n]):>28}" for n in variants))
    for segment in SEGMENTS:
        print(f"{segment:<20}" + "".join(f"{q(cuts[n][segment]):>28}" for n in variants))
    print(f"{'WFTs per run':<20}" + "".join(f"{len(cuts[n]['WFT processing']) / runs:>28.1f}" for n in variants))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--setups", nargs="+", default=["off", "tracing+ledger"])
    parser.add_argument("--server-arg", action="append", default=[])
    a = parser.parse_args()
    asyncio.run(main(a.runs, a.setups, a.server_arg))
    exit_now(0)
