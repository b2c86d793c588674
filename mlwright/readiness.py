"""Waiting until every task queue has a worker polling it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from mlwright.queues import QueueSet, Resource


async def missing_pollers(client: Client, queues: QueueSet, resources: Iterable[Resource] = Resource) -> list[str]:
    async def polled(resource: Resource) -> bool:
        kind = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW if resource is Resource.PIPELINES
                else TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
        response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=queues[resource]), task_queue_type=kind))
        return bool(response.pollers)

    resources = list(resources)
    answers = await asyncio.gather(*(polled(r) for r in resources))
    return [queues[r] for r, ok in zip(resources, answers, strict=True) if not ok]


async def wait_for_workers(client: Client, queues: QueueSet, timeout_s: float, poll_s: float = 0.05,
                           resources: Iterable[Resource] = Resource) -> None:
    """Until a worker polls each queue; a short poll, as `mlwright up` is ready the moment they do.
    A worker also calls this for its own queues: its first poll reaches the server a moment after
    the SDK's worker has started, and the server's pollers list is the only place that says so."""
    resources = list(resources)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while missing := await missing_pollers(client, queues, resources):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"no worker polls {missing} after {timeout_s}s")
        await asyncio.sleep(poll_s)
