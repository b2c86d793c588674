"""Issue 7's loop with nothing but the `temporal` CLI: start a monitor, inject drift, approve the
child's candidate with `temporal workflow update execute`, and see the next scoring run use it."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from activities.deps import ActivityDeps
from mlwright.contracts.patient_risk import ModelNames
from mlwright.patient_risk import bootstrap
from tests.conftest import running_workers, target_of
from tests.e2e.temporal_cli import query_json, temporal
from tests.workflows.patient_risk_world import RUN_DATE, World, start_services

pytestmark = pytest.mark.e2e


async def _until_awaiting_approval(workflow_id: str, address: str, timeout_s: float = 120) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        status = await query_json(workflow_id, "status", address)
        if status["awaiting_approval"] or asyncio.get_running_loop().time() > deadline:
            assert status["awaiting_approval"], f"{workflow_id} never awaited approval: {status}"
            return status
        await asyncio.sleep(0.2)


async def test_drift_retrains_a_child_approved_from_the_cli_and_the_next_run_scores_with_it(
        dev_env, tmp_path_factory):
    settings, inbox, dials, servers = start_services(tmp_path_factory.mktemp("hospital-monitor"))
    tag = uuid.uuid4().hex[:6]
    # Own model names: monitor and child ids derive from them, and the dev server is shared.
    models = ModelNames(readmission=f"readmission-{tag}", deterioration=f"deterioration-{tag}",
                        acuity=f"acuity-{tag}")
    world = World(settings=settings.model_copy(update={"task_queue_prefix": f"mon{tag}-"}), inbox=inbox, **dials)
    name, address = models.readmission, target_of(dev_env.client)
    monitor, child = f"monitor-{name}", f"monitor-{name}/retrain-1"
    monitor_input = {"model_name": name, "interval": "10h", "stream": {"drift_from_cycle": 1},
                     "training": bootstrap.retrain_body(name, models)}
    risk_input = {"run_date": RUN_DATE.isoformat(), "models": models.model_dump()}
    try:
        async with running_workers(dev_env.client, world.settings, ActivityDeps.from_settings(world.settings)) as q:
            trained = await bootstrap.train_models(dev_env.client, world.settings, patients=1000, seed=5,
                                                   run_date=RUN_DATE, say=lambda _line: None, models=models)
            assert trained["readmission"].version == 1

            await temporal("workflow", "start", "--type", "RetrainingMonitor", "--task-queue", q.pipelines,
                           "--workflow-id", monitor, "--input", json.dumps(monitor_input), address=address)
            await temporal("workflow", "update", "execute", "-w", monitor, "--name", "trigger_now",
                           "--input", '{"reason": "drift injected from cycle 1"}', address=address)
            status = await query_json(monitor, "status", address)
            assert status["recent"][-1]["action"] == "retrain" and status["recent"][-1]["drift_level"] == "critical"
            assert status["child"]["workflow_id"] == child

            described = json.loads((await temporal("workflow", "describe", "-w", child, "-o", "json",
                                                   address=address)).stdout)
            assert described["workflowExecutionInfo"]["parentExecution"]["workflowId"] == monitor  # Web UI link
            waiting = await _until_awaiting_approval(child, address)
            assert waiting["candidate_version"] == 2 and waiting["production_version"] == 1
            await temporal("workflow", "update", "execute", "-w", child, "--name", "approve",
                           "--input", '{"approver": "dana", "reason": "drift retrain reviewed"}', address=address)
            result = json.loads((await temporal("workflow", "result", "-w", child, "-o", "json",
                                                address=address)).stdout)["result"]
            assert (result["decision"], result["version"]) == ("promoted", 2)

            await temporal("workflow", "update", "execute", "-w", monitor, "--name", "trigger_now",
                           "--input", '{"reason": "after the approval"}', address=address)
            status = await query_json(monitor, "status", address)
            assert status["child"] is None
            assert [(k["workflow_id"], k["outcome"], k["version"]) for k in status["children"]] == [
                (child, "promoted", 2)]
            assert status["recent"][-1]["action"] == "cooldown"  # drift holds; no second child

            run = f"patient-risk-{tag}"
            await temporal("workflow", "start", "--type", "PatientRiskPipeline", "--task-queue", q.pipelines,
                           "--workflow-id", run, "--input", json.dumps(risk_input), address=address)
            scored = json.loads((await temporal("workflow", "result", "-w", run, "-o", "json",
                                                address=address)).stdout)["result"]
            assert scored["model_versions"][name] == 2
            await temporal("workflow", "terminate", "-w", monitor, "--reason", "test over", address=address)
    finally:
        for server in servers:
            server.stop()
