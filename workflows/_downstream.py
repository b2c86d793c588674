"""Explicit dependencies, the workflow side: an upstream run that completed for a date starts the
pipelines declared downstream of it (`[[dependency]]`, applied by `mlwright schedules apply`).

Each downstream is a child started with ``ParentClosePolicy.ABANDON``: the relation shows in both
histories (the upstream's ChildWorkflowExecutionStarted, the downstream's parent link), the
downstream outlives the upstream, and it carries ``MlwrightUpstream`` (search attribute) and
``mlwright_upstream`` (memo) naming the upstream run. Its id is ``<prefix><downstream>-<date>`` with
``ALLOW_DUPLICATE_FAILED_ONLY``: a second upstream completion for the date (a re-run) finds it
running or completed and starts nothing; only a failed downstream is started again. Nothing here
reads a clock: a failed upstream never gets here, and a late one makes the downstream late.

Called at the very end of a pipeline, behind ``workflow.patched`` so runs recorded before it replay.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from mlwright import visibility as v
    from mlwright.contracts.triggers import DownstreamQuery, UpstreamRun
    from mlwright.queues import QueueSet
    from mlwright.steps.triggers import FIND_DOWNSTREAM

from workflows._steps import run_step

PATCH = "mlwright-downstream-dependencies"
UPSTREAM_MEMO = "mlwright_upstream"


async def start_downstream(workflow_type: str, run_date: date, queues: QueueSet,
                           result: dict[str, Any]) -> list[str]:
    """Start this run's declared downstream pipelines for ``run_date``; returns the ids started."""
    if not workflow.patched(PATCH):
        return []
    info = workflow.info()
    upstream = UpstreamRun(workflow_type=workflow_type, workflow_id=info.workflow_id,
                           run_id=info.first_execution_run_id, run_date=run_date, result=result)
    plan = await run_step(FIND_DOWNSTREAM, DownstreamQuery(upstream=upstream, task_queue_prefix=queues.prefix),
                          queues, f"find pipelines downstream of {workflow_type} for {run_date.isoformat()}")
    started = []
    for start in plan.starts:
        try:
            await workflow.start_child_workflow(
                start.workflow_type, start.input, id=start.workflow_id, task_queue=queues.pipelines,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                memo={UPSTREAM_MEMO: upstream.model_dump(mode="json")},
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(v.TRIGGERED_BY, "upstream"),
                    SearchAttributePair(v.UPSTREAM, f"{info.workflow_id}/{info.first_execution_run_id}")]),
                static_summary=f"{start.workflow_type} for {run_date.isoformat()}, after {workflow_type}")
            started.append(start.workflow_id)
        except WorkflowAlreadyStartedError:
            workflow.logger.info("%s already started for %s; not starting it again", start.workflow_id,
                                 run_date.isoformat())
    return started
