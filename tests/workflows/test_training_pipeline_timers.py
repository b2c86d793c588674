"""TrainingPipeline's timers on the time-skipping server: approval timeout and canary window."""

from __future__ import annotations

import uuid

import pytest
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError

from mlwright.contracts import training_steps as c
from mlwright.contracts.training import ApprovalDecision, TrainingResult
from mlwright.steps import training as steps
from mlwright.store import registry
from mlwright.store.db import session_scope
from tests.conftest import running_workers
from tests.workflows.test_training_pipeline import training_input
from tests.workflows.waiting import wait_for_status


async def start(env, queues, inp):
    return await env.client.start_workflow("TrainingPipeline", inp, id=f"training-{uuid.uuid4()}",
                                           task_queue=queues.pipelines, result_type=TrainingResult)


async def test_no_decision_within_approval_timeout_rejects(ts_env, settings, deps, breast_cancer_csv):
    inp = training_input(breast_cancer_csv, promotion={"approval_timeout": "72h"})
    async with running_workers(ts_env.client, settings, deps) as queues:
        handle = await start(ts_env, queues, inp)
        result = await handle.result()  # the test server skips the 72 hours
    assert result.decision == "rejected" and result.decided_by == "timeout"
    assert result.step_durations["await_approval"] == pytest.approx(72 * 3600, abs=5)
    with session_scope(deps.engine) as session:
        last = registry.transitions(session, model_name="bc")[-1]
    assert (last.stage, last.actor) == ("archived", "timeout")


async def test_canary_is_watched_for_its_duration_and_refuses_a_second_approval(ts_env, settings, deps,
                                                                               breast_cancer_csv):
    inp = training_input(breast_cancer_csv, promotion={"canary_duration": "6h", "canary_fraction": 0.25})
    async with running_workers(ts_env.client, settings, deps) as queues:
        handle = await start(ts_env, queues, inp)
        await wait_for_status(handle, lambda s: s.awaiting_approval)
        await handle.execute_update("approve", ApprovalDecision(approver="alice", reason="ok"))
        await wait_for_status(handle, lambda s: s.step == "watch_canary")
        with session_scope(deps.engine) as session:
            canary = registry.stage_holder(session, model_name="bc", stage="canary")
        assert (canary.version, canary.traffic_fraction) == (1, 0.25)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("approve", ApprovalDecision(approver="mallory"))
        assert refused.value.cause.message == "not awaiting approval: the run is at step 'watch_canary'"
        result = await handle.result()
    assert result.decision == "promoted" and result.decided_by == "alice"
    assert result.step_durations["canary_window"] == pytest.approx(6 * 3600, abs=5)


@activity.defn(name=steps.WATCH_CANARY.name)
def unhealthy_canary(inp: c.CanaryInput) -> c.CanaryReport:
    return c.CanaryReport(healthy=False, canary_version=1, production_version=None, canary_metric=0.5,
                          production_metric=None, detail="error rate 12% on live traffic")


async def test_unhealthy_canary_is_rolled_back(ts_env, settings, deps, breast_cancer_csv):
    async with running_workers(ts_env.client, settings, deps, replace=[unhealthy_canary]) as queues:
        handle = await start(ts_env, queues, training_input(breast_cancer_csv))
        await wait_for_status(handle, lambda s: s.awaiting_approval)
        await handle.execute_update("approve", ApprovalDecision(approver="alice"))
        result = await handle.result()
    assert result.decision == "rolled_back" and result.reason == "error rate 12% on live traffic"
    with session_scope(deps.engine) as session:
        assert registry.stage_holder(session, model_name="bc", stage="canary") is None
        assert registry.stage_holder(session, model_name="bc", stage="production") is None
        assert [t.stage for t in registry.transitions(session, model_name="bc")][-2:] == ["canary", "archived"]
