"""A parent workflow for the ledger tests: tagged itself, it starts an untagged TrainingPipeline child."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError


@workflow.defn(name="LedgerParent")
class LedgerParent:
    @workflow.run
    async def run(self, inp: dict[str, Any]) -> str:
        try:
            await workflow.execute_child_workflow("TrainingPipeline", inp["child"],
                                                  id=f"{workflow.info().workflow_id}-child", task_queue=inp["queue"])
        except ChildWorkflowError:
            return "child failed"
        return "child completed"
