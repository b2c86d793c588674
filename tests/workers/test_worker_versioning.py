"""Worker Versioning on the dev server: a worker with a deployment name and build id registers that version."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.api.workflowservice.v1 import DescribeWorkerDeploymentRequest
from temporalio.service import RPCError

from mlwright.queues import QueueSet, Resource
from workers.definitions import build_worker


async def test_versioned_worker_registers_its_build_with_the_server(dev_env, settings):
    name = f"mlwright-{uuid.uuid4().hex[:8]}"
    versioned = settings.model_copy(update={"worker_deployment_name": name, "worker_build_id": "1.4.0"})
    worker, _ = build_worker(dev_env.client, Resource.PIPELINES, versioned, None, QueueSet(versioned.task_queue_prefix))
    request = DescribeWorkerDeploymentRequest(namespace=dev_env.client.namespace, deployment_name=name)
    async with worker:
        builds: list[str] = []
        # The server learns the version from the worker's first polls: wait on that, not a sleep.
        for _ in range(100):
            try:
                info = await dev_env.client.workflow_service.describe_worker_deployment(request)
            except RPCError:  # "no Worker Deployment found ... does it have pollers?" until the first poll
                await asyncio.sleep(0.1)
                continue
            builds = [v.deployment_version.build_id for v in info.worker_deployment_info.version_summaries]
            if builds:
                break
    assert builds == ["1.4.0"]
