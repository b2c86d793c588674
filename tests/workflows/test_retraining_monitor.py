"""RetrainingMonitor on the time-skipping server: cycles, drift → one child, cool-down, a failing
child, continue-as-new with a running child. Controls (Updates) run on the dev server: the test
server stops skipping time after an Update."""

from __future__ import annotations

import uuid

import pytest
import pytest_asyncio
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from mlwright import visibility
from mlwright.client import client_options
from mlwright.contracts.monitor import MonitorInput, MonitorResult, MonitorStatus
from mlwright.store.db import session_scope
from mlwright.store.monitor import children, cycles
from tests.conftest import running_workers
from tests.helpers import venv_bin


@pytest_asyncio.fixture(scope="module")
async def ts_env():
    """This module's own time-skipping server. A monitor ends right after starting an abandoned
    child; that child, left with a pending step and no worker once the test's workers stop, holds
    the server's clock still, so a shared server would hang every later timer test."""
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
