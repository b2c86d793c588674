"""RetrainingMonitor on the time-skipping server: cycles, drift → one child, cool-down, a failing
child, state across continue-as-new. On the dev server: controls (the test server stops skipping
time after an Update) and a child running across continue-as-new (see the note above that test)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from mlwright import visibility
from mlwright.client import client_options
from mlwright.contracts.monitor import MonitorInput, MonitorResult, MonitorStatus
from mlwright.contracts.training import ApprovalDecision, TrainingResult, TrainingStatus
from mlwright.store.db import session_scope
from mlwright.store.monitor import children, cycles
from tests.conftest import running_workers
from tests.helpers import venv_bin


@pytest_asyncio.fixture
async def ts_env():
    """A time-skipping server per test (it starts in a fraction of a second). A monitor may end right
    after starting an abandoned child; that child, left with a pending step and no worker once the
    test's workers stop, holds the server's clock still, so a shared server would hang every later
    timer test (seen with a module-scoped one: the test after the failing-child test hung)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_bin("temporal-test-server"), **client_options())
    await visibility.register(env.client)
    yield env
    await env.shutdown()


def monitor_input(csv, **overrides) -> MonitorInput:
    body = {
        "model_name": f"bc{uuid.uuid4().hex[:8]}", "interval": "1h", "cooldown": "1000h",
        "stream": {"seed": 3, "rows_per_cycle": 400, "drift_from_cycle": 3},
        "training": {"model_name": "bc", "dataset": {"uri": str(csv), "target": "target"},
                     "estimator": {"name": "logistic_regression"},
                     "promotion": {"approval_timeout": "3h", "canary_duration": "1s"}},
    }
    return MonitorInput.model_validate({**body, **overrides})


async def run_monitor(env, queues, inp) -> tuple[MonitorResult, str]:
    wid = f"monitor-{inp.model_name}"
    handle = await env.client.start_workflow("RetrainingMonitor", inp, id=wid, task_queue=queues.pipelines,
                                             result_type=MonitorResult)
    return await handle.result(), wid


async def test_no_drift_records_every_cycle_and_starts_nothing(ts_env, settings, deps, breast_cancer_csv):
    inp = monitor_input(breast_cancer_csv, max_cycles=4, stream={"seed": 4, "rows_per_cycle": 400})
    async with running_workers(ts_env.client, settings, deps) as queues:
        result, wid = await run_monitor(ts_env, queues, inp)
    with session_scope(deps.engine) as session:
        rows = cycles(session, wid)
    # A sample of 400 may reach "warning" by chance; only "critical" counts as degraded by default.
    assert [(r.cycle, r.degraded, r.drift_level != "critical") for r in rows] == [(i, False, True) for i in range(1, 5)]
    assert result.children == [] and result.child is None


async def test_pause_resume_trigger_now_and_thresholds(dev_env, settings, deps, breast_cancer_csv):
    inp = monitor_input(breast_cancer_csv, interval="10h", stream={"seed": 4, "rows_per_cycle": 400})
    async with running_workers(dev_env.client, settings, deps) as queues:
        handle = await dev_env.client.start_workflow("RetrainingMonitor", inp, id=f"monitor-{inp.model_name}",
                                                     task_queue=queues.pipelines)
        status = await handle.execute_update("trigger_now", {"reason": "drill"}, result_type=MonitorStatus)
        assert status.cycle == 1 and status.recent[-1].trigger == "trigger_now: drill"
        assert status.next_cycle_at is not None
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("trigger_now", {"reason": ""})
        assert "reason" in refused.value.cause.message
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("resume", {"operator": "ops"})
        assert refused.value.cause.message == "not paused"
        status = await handle.execute_update("pause", {"operator": "ops", "reason": "maintenance"},
                                             result_type=MonitorStatus)
        assert status.paused and status.next_cycle_at is None
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("trigger_now", {"reason": "while paused"})
        assert refused.value.cause.message == "paused: resume first"
        await handle.execute_update("resume", {"operator": "ops"})
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("update_thresholds", {"min_roc_auc": 2})
        assert "min_roc_auc" in refused.value.cause.message
        await handle.execute_update("update_thresholds", {"min_roc_auc": 0.99})
        status = await handle.execute_update("trigger_now", {"reason": "strict"}, result_type=MonitorStatus)
        assert status.thresholds.min_roc_auc == 0.99 and status.cycle == 2
        assert status.recent[-1].degraded and status.child is not None  # 0.99 is out of reach: a retrain
        assert status.child.workflow_id == f"{handle.id}/retrain-2"
        await handle.terminate("test over")


async def test_a_failing_child_is_recorded_and_the_monitor_goes_on(ts_env, settings, deps, breast_cancer_csv):
    training = {"model_name": "bc", "dataset": {"uri": str(breast_cancer_csv), "target": "no_such_column"},
                "estimator": {"name": "logistic_regression"}}
    inp = monitor_input(breast_cancer_csv, max_cycles=6, training=training, cooldown="2h")
    async with running_workers(ts_env.client, settings, deps) as queues:
        result, wid = await run_monitor(ts_env, queues, inp)
    with session_scope(deps.engine) as session:
        kids = children(session, wid)
        actions = [r.action for r in cycles(session, wid)]
    assert kids[0].child_id == f"{wid}/retrain-3" and kids[0].outcome == "failed"
    assert actions[:3] == ["too_few_outcomes", "none", "retrain"] and len(actions) == 6
    # After the cool-down (2h from the failure) drift still holds, so the monitor retrains again.
    assert actions.count("retrain") == 2 and result.cycles == 6


async def _run_id(handle) -> str:
    return (await handle.describe()).run_id


async def _history_types(client, workflow_id: str, run_id: str) -> list[EventType]:
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    return [e.event_type async for e in handle.fetch_history_events()]


async def test_state_survives_continue_as_new(ts_env, settings, deps, breast_cancer_csv):
    """Two cycles per run, five cycles: three runs, one history each, one monitor as far as anyone
    can tell (cycle numbers, recent cycles, a paused flag's absence, the run count)."""
    inp = monitor_input(breast_cancer_csv, max_cycles=5, cycles_per_run=2, stream={"seed": 4, "rows_per_cycle": 400})
    async with running_workers(ts_env.client, settings, deps) as queues:
        handle = await ts_env.client.start_workflow("RetrainingMonitor", inp, id=f"monitor-{inp.model_name}",
                                                    task_queue=queues.pipelines, result_type=MonitorResult)
        first_run = await _run_id(handle)
        result = await handle.result()  # follows the continue-as-new runs; time skips while it waits
        last = await handle.query("status", result_type=MonitorStatus)
        first_events = await _history_types(ts_env.client, handle.id, first_run)
    assert first_events[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert result.cycles == 5 and last.runs == 3 and [f.cycle for f in last.recent] == [1, 2, 3, 4, 5]
    with session_scope(deps.engine) as session:
        assert [r.cycle for r in cycles(session, handle.id)] == [1, 2, 3, 4, 5]


# A child running across continue-as-new is tested on the dev server: on the time-skipping test
# server, once the abandoned child of a continued-as-new run completes, the clock stops advancing
# (seen here with temporal-test-server 1.40; upstream sdk-java#1540, sdk-typescript#1101).
async def test_a_child_approved_after_continue_as_new_is_recorded_by_the_new_run(dev_env, settings, deps,
                                                                                  breast_cancer_csv):
    """The same on the dev server, with the child approved by a person (an Update) after the monitor
    has continued-as-new: the new run's status shows the child while it waits, then its outcome."""
    inp = monitor_input(breast_cancer_csv, interval="10h", cycles_per_run=2,
                        stream={"seed": 3, "rows_per_cycle": 400, "drift_from_cycle": 2})
    async with running_workers(dev_env.client, settings, deps) as queues:
        handle = await dev_env.client.start_workflow("RetrainingMonitor", inp, id=f"monitor-{inp.model_name}",
                                                     task_queue=queues.pipelines)
        first_run = await _run_id(handle)
        await handle.execute_update("trigger_now", {"reason": "cycle 1"}, result_type=MonitorStatus)
        status = await handle.execute_update("trigger_now", {"reason": "cycle 2"}, result_type=MonitorStatus)
        child_id = f"{handle.id}/retrain-2"
        assert status.child is not None and status.child.workflow_id == child_id
        new_run = await _until(lambda: _run_id(handle), lambda run: run != first_run)
        carried = await handle.query("status", result_type=MonitorStatus)
        assert carried.runs == 2 and carried.cycle == 2 and carried.child.workflow_id == child_id
        assert carried.child.outcome is None

        child = dev_env.client.get_workflow_handle(child_id, result_type=TrainingResult)
        await _until(lambda: child.query("status", result_type=TrainingStatus), lambda s: s.awaiting_approval)
        await child.execute_update("approve", ApprovalDecision(approver="test", reason="reviewed"))
        promoted = await child.result()
        assert promoted.decision == "promoted"

        status = await handle.execute_update("trigger_now", {"reason": "cycle 3"}, result_type=MonitorStatus)
        assert (await _run_id(handle)) == new_run
        assert status.child is None and [(k.workflow_id, k.outcome, k.version) for k in status.children] == [
            (child_id, "promoted", promoted.version)]
        # Drift still holds, but the cool-down after the retrain keeps a second child from starting.
        assert status.recent[-1].degraded and status.recent[-1].action == "cooldown"
        await handle.terminate("test over")
    with session_scope(deps.engine) as session:
        kids = [(k.child_id, k.outcome) for k in children(session, handle.id)]
    assert kids == [(child_id, "promoted")]


async def _until(read, condition, timeout_s: float = 60):
    """``await read()`` until ``condition`` holds on its answer (the server changes it asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        answer = await read()
        if condition(answer):
            return answer
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition never held; last answer {answer!r}")
        await asyncio.sleep(0.1)
