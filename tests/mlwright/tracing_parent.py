"""A parent workflow for the tracing tests: runs TrainingPipeline as its child, as an upstream would."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from mlwright.contracts.training import TrainingInput


@workflow.defn(name="TracingParent")
class TracingParent:
    @workflow.run
    async def run(self, inp: TrainingInput, child_queue: str) -> str:
        try:
            await workflow.execute_child_workflow("TrainingPipeline", inp, id=f"{workflow.info().workflow_id}-child",
                                                  task_queue=child_queue)
        except ChildWorkflowError:
            return "child failed"
        return "child completed"
