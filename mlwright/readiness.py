"""Waiting until every task queue has a worker polling it."""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from mlwright.queues import QueueSet, Resource


async def missing_pollers(client: Client, queues: QueueSet) -> list[str]:
    missing = []
    for resource in Resource:
        kind = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW if resource is Resource.PIPELINES
                else TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
        response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=queues[resource]), task_queue_type=kind))
        if not response.pollers:
            missing.append(queues[resource])
    return missing


async def wait_for_workers(client: Client, queues: QueueSet, timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while missing := await missing_pollers(client, queues):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"no worker polls {missing} after {timeout_s}s")
        await asyncio.sleep(0.3)
