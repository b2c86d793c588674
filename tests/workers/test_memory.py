"""A worker hands what a step freed back to the OS when the step grew its RSS past a threshold (workers/memory.py)."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from temporalio import activity
from temporalio.worker import Worker

from mlwright.queues import QueueSet, Resource
from tests.workers.one_step import OneStepOnQueue
from workers.definitions import configure_worker
from workers.memory import rss_mb

KEPT: list[np.ndarray] = []


@activity.defn(name="fragment_heap")
def fragment_heap(_: str) -> float:
    """Frees ~170 MB in 96 KB pieces (from the thread's heap, not mmap) between pieces it keeps, as
    a step's temporaries do: glibc cannot give that back by itself."""
    arrays = [np.ones(12_000) for _ in range(2_000)]
    KEPT.extend(arrays[::10])
    del arrays
    return rss_mb()


async def freed_after_the_step(client, settings, growth_mb: float) -> float:
    s = settings.model_copy(update={"worker_release_memory_growth_mb": growth_mb})
    queues = QueueSet(f"{settings.task_queue_prefix}{uuid.uuid4().hex[:6]}-")
    cpu, executor = configure_worker(client, Resource.CPU, s, queues, activities=[fragment_heap])
    try:
        async with cpu, Worker(client, task_queue=queues.pipelines, workflows=[OneStepOnQueue]):
            at_step_end = await client.execute_workflow(
                OneStepOnQueue.run, {"activity": "fragment_heap", "queue": queues[Resource.CPU]}, id=f"mem-{uuid.uuid4()}",
                task_queue=queues.pipelines)
    finally:
        executor.shutdown()
    freed = at_step_end - rss_mb()
    KEPT.clear()
    return freed


@pytest.mark.skipif(rss_mb() is None, reason="reads /proc/self/statm (Linux)")
async def test_memory_a_step_freed_goes_back_to_the_os_once_it_grew_past_the_threshold(dev_env, settings):
    # The step grew RSS by ~190 MB, over the default threshold: the ~170 MB it freed leave the process.
    assert await freed_after_the_step(dev_env.client, settings, growth_mb=settings.worker_release_memory_growth_mb) > 100
    # A step that grew less than the threshold releases nothing, and the freed memory stays resident.
    assert await freed_after_the_step(dev_env.client, settings, growth_mb=10**6) < 50
