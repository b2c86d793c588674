"""A workflow that runs one named activity on a given queue (the worker-interceptor tests)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow


@workflow.defn(name="OneStepOnQueue")
class OneStepOnQueue:
    @workflow.run
    async def run(self, inp: dict[str, str]) -> float:
        return await workflow.execute_activity(inp["activity"], "", task_queue=inp["queue"], result_type=float,
                                               start_to_close_timeout=timedelta(seconds=60))
