"""Run the workers of one or more resource classes until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time

from temporalio.client import Client

from mlwright import visibility
from mlwright.client import ConnectionSettingsError, connect
from mlwright.metrics import setup_metrics
from mlwright.queues import QueueSet, Resource
from mlwright.settings import Settings
from mlwright.telemetry import flush as flush_spans
from mlwright.telemetry import setup_logging, setup_tracing
from workers.definitions import build_worker, import_activity_classes

log = logging.getLogger("mlwright.workers")


async def serve(resources: list[Resource], settings: Settings, stop: asyncio.Event | None = None) -> None:
    setup_logging(settings)
    setup_tracing(settings, service=f"mlwright-worker-{'-'.join(resources)}")
    setup_metrics(settings)  # before the client: its Runtime must be the process's one
    # Imports and the store's schema first: under `mlwright dev` they overlap the server's start.
    needs_deps = any(r is not Resource.PIPELINES for r in resources)
    deps = None
    if needs_deps:  # imported here: the workflow worker never loads the store (SQLAlchemy)
        from activities.deps import ActivityDeps

        deps = ActivityDeps.from_settings(settings)
    if settings.worker_preload and needs_deps:
        # Beside polling, not before it: the worker is ready at once, a step that arrives first
        # waits for the import it needs (workers.definitions takes one lock for both).
        threading.Thread(target=_preload, args=(resources,), name="mlwright-preload", daemon=True).start()
    client = await connect_when_up(settings)
    if Resource.PIPELINES in resources:
        # Workflows publish their state as search attributes; without them every run would stall.
        await visibility.require(client, register_if_missing=settings.register_search_attributes)
    queues = QueueSet(settings.task_queue_prefix)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    built = [build_worker(client, r, settings, deps, queues) for r in resources]
    try:
        async with contextlib.AsyncExitStack() as stack:
            for worker, _ in built:
                await stack.enter_async_context(worker)
            log.info("serving task queues %s on %s (namespace %s)", [queues[r] for r in resources],
                     settings.temporal_address, settings.temporal_namespace)
            await stop.wait()
            log.info("stopping: letting running activities finish (up to %ss)", settings.graceful_shutdown_s)
    finally:
        for _, executor in built:
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
        flush_spans()  # the process exits without interpreter teardown (mlwright.cli.exit_now)


def _preload(resources: list[Resource]) -> None:
    started = time.perf_counter()
    try:
        import_activity_classes(resources)
    except Exception:  # noqa: BLE001 - the step that needs the class raises it where it is seen
        log.exception("preloading the step code of %s failed", resources)
        return
    log.info("step code of %s loaded in %.1f s", [r.value for r in resources], time.perf_counter() - started)


async def connect_when_up(settings: Settings, poll_s: float = 0.05) -> Client:
    """The client, once Temporal answers (up to ``worker_connect_wait_s``): a worker started beside
    its server spends its imports while the server starts, instead of waiting for it first."""
    deadline = asyncio.get_running_loop().time() + settings.worker_connect_wait_s
    while True:
        try:
            return await connect(settings)
        except ConnectionSettingsError:
            if asyncio.get_running_loop().time() >= deadline:
                raise
            await asyncio.sleep(poll_s)
