"""One worker process of bench/throughput.py, serving the no-op shape (bench/shape.py) on one queue.

    python bench/shape_worker.py mlwright RESOURCE   # as `python -m workers RESOURCE`: MLWRIGHT_* settings,
                                                     # mlwright's client (encryption, tracing), configure_worker
    python bench/shape_worker.py plain ADDRESS QUEUE # plain temporalio: default client, default Worker options

Runs until SIGTERM. The shape's steps are no-ops, so what the benchmark measures is orchestration.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor

from shape import ShapeWorkflow, noop
from temporalio.client import Client
from temporalio.worker import Worker

from mlwright.cli import exit_now
from mlwright.client import connect
from mlwright.logs import setup_logging
from mlwright.queues import QueueSet, Resource
from mlwright.settings import get_settings
from mlwright.telemetry import flush as flush_spans
from mlwright.telemetry import setup_tracing
from workers.definitions import configure_worker


async def until_sigterm(worker: Worker) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()


async def mlwright_worker(resource: Resource) -> None:
    settings = get_settings()
    setup_logging(settings)
    setup_tracing(settings, service=f"bench-worker-{resource}")
    client = await connect(settings)
    queues = QueueSet(settings.task_queue_prefix)
    served = {"workflows": [ShapeWorkflow]} if resource is Resource.PIPELINES else {"activities": [noop]}
    worker, executor = configure_worker(client, resource, settings, queues, **served)
    try:
        await until_sigterm(worker)
    finally:
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        flush_spans()


async def plain_worker(address: str, queue: str) -> None:
    client = await Client.connect(address)
    # A sync activity needs an executor; 100 threads match the default max_concurrent_activities,
    # so the executor adds no limit of its own to the defaults.
    with ThreadPoolExecutor(max_workers=100) as executor:
        await until_sigterm(Worker(client, task_queue=queue, workflows=[ShapeWorkflow], activities=[noop],
                                   activity_executor=executor))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="setup", required=True)
    sub.add_parser("mlwright").add_argument("resource", choices=[r.value for r in Resource])
    plain = sub.add_parser("plain")
    plain.add_argument("address")
    plain.add_argument("queue")
    args = parser.parse_args()
    if args.setup == "mlwright":
        asyncio.run(mlwright_worker(Resource(args.resource)))
    else:
        asyncio.run(plain_worker(args.address, args.queue))
    exit_now(0)


if __name__ == "__main__":
    main()
