"""The benchmark's workflow: the patient-risk pipeline's shape with no-op steps (sandbox-light module)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from mlwright.queues import QueueSet, Resource

STEPS = 23


@activity.defn
def noop(step: str) -> str:
    return step


@workflow.defn
class ShapeWorkflow:
    """4 parallel extract→validate chains, 12 chained steps, 2 parallel writes, 4 chained: 23 steps."""

    @workflow.run
    async def run(self, prefix: str | None) -> int:
        queues = {r: (QueueSet(prefix)[r] if prefix is not None else None) for r in Resource}

        async def step(name: str, resource: Resource) -> str:
            return await workflow.execute_activity(noop, name, task_queue=queues[resource],
                                                   start_to_close_timeout=timedelta(seconds=30))

        async def source(name: str) -> None:
            await step(f"extract_{name}", Resource.IO)
            await step(f"validate_{name}", Resource.CPU)

        await asyncio.gather(*(source(s) for s in ("ehr", "labs", "claims", "pharmacy")))
        for name in ("merge", "quality_gate", "features", "validate_features", "model_1", "model_2", "model_3",
                     "rules", "validate_predictions"):
            await step(name, Resource.CPU)
        await asyncio.gather(step("write_care", Resource.IO), step("write_fhir", Resource.IO))
        for name in ("verify", "alerts", "lineage", "metrics"):
            await step(name, Resource.IO)
        return STEPS
