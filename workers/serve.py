"""Run the workers of one or more resource classes until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time

from temporalio.client import Client

from mlwright import visibility
from mlwright.client import ConnectionSettingsError, connect
from mlwright.logs import setup_logging
from mlwright.metrics import setup_metrics
from mlwright.queues import QueueSet, Resource
from mlwright.readiness import wait_for_workers
from mlwright.settings import Settings
from mlwright.telemetry import flush as flush_spans
from mlwright.telemetry import setup_tracing
from workers.definitions import PRELOAD, DepsOnFirstUse, build_worker, preload_libraries

log = logging.getLogger("mlwright.workers")


# Niceness of the preload thread (Linux sets it per thread): while a stack starts, the imports of
# one worker's step code must not take the CPU from the server and the workers still starting.
PRELOAD_NICENESS = 10


async def serve(resources: list[Resource], settings: Settings, stop: asyncio.Event | None = None,
                ready_fd: int | None = None) -> None:
    """Serve ``resources`` until ``stop`` (or SIGTERM/SIGINT). Once the server lists this process's
    pollers on every one of its queues, their names are written to ``ready_fd`` (`mlwright dev`
    waits on that pipe instead of asking the server) and the preload of its libraries starts."""
    setup_logging(settings)
    setup_tracing(settings, service=f"mlwright-worker-{'-'.join(resources)}")
    setup_metrics(settings)  # before the client: its Runtime must be the process's one
    # The store opens on the first step that needs it: the workflow worker never
    # loads it (SQLAlchemy), an activity worker does not spend its start on it.
    needs_deps = any(r is not Resource.PIPELINES for r in resources)
    deps = DepsOnFirstUse(settings) if needs_deps else None
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
            if ready_fd is not None:
                await wait_for_workers(client, queues, settings.worker_connect_wait_s, resources=resources)
                _report_ready(ready_fd, resources)
            log.info("serving task queues %s on %s (namespace %s)", [queues[r] for r in resources],
                     settings.temporal_address, settings.temporal_namespace)
            if settings.worker_preload and any(PRELOAD.get(r) for r in resources):
                # After polling, not before it: the worker is ready at once, a step that arrives first
                # waits for the import it needs (workers.definitions takes one lock for both).
                threading.Thread(target=_preload, args=(resources,), name="mlwright-preload", daemon=True).start()
            await stop.wait()
            log.info("stopping: letting running activities finish (up to %ss)", settings.graceful_shutdown_s)
    finally:
        for _, executor in built:
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
        flush_spans()  # the process exits without interpreter teardown (mlwright.cli.exit_now)


def _report_ready(fd: int, resources: list[Resource]) -> None:
    try:
        os.write(fd, "".join(f"{r.value}\n" for r in resources).encode())
        os.close(fd)
    except OSError:  # whoever waited is gone; serving goes on
        log.warning("could not report this worker ready on descriptor %s", fd)


def _preload(resources: list[Resource]) -> None:
    started = time.perf_counter()
    if sys.platform == "linux":  # elsewhere a thread id is no process id: it would renice another
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PRELOAD_NICENESS)
    try:
        preload_libraries(resources)
    except Exception:  # noqa: BLE001 - the step that needs the library raises it where it is seen
        log.exception("preloading the libraries of %s failed", resources)
        return
    log.info("libraries of %s loaded in %.1f s", [r.value for r in resources], time.perf_counter() - started)


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
