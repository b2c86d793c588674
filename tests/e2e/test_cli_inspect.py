"""`mlwright inspect`: a run's status and its decoded result or failure, where the Temporal CLI shows
"Encoded failure" (failure messages are sealed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from mlwright.queues import Resource
from tests.conftest import running_workers, target_of
from tests.e2e.temporal_cli import listed, temporal

pytestmark = pytest.mark.e2e


def mlwright_inspect(address: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLWRIGHT_TEMPORAL_ADDRESS": address}
    return subprocess.run([sys.executable, "-m", "mlwright.cli", "inspect", *args], env=env,
                          capture_output=True, text=True, timeout=60)


async def test_a_refused_run_shows_why_and_a_finished_run_its_result(dev_env, settings, deps, breast_cancer_csv):
    address = target_of(dev_env.client)
    bad, good = f"inspect-bad-{uuid.uuid4()}", f"inspect-ok-{uuid.uuid4()}"
    body = {"model_name": f"insp-{uuid.uuid4().hex[:8]}", "dataset": {"uri": str(breast_cancer_csv), "target": "target"},
            "estimator": {"name": "logistic_regression"}}
    async with running_workers(dev_env.client, settings, deps, resources=[Resource.PIPELINES, Resource.IO,
                                                                          Resource.CPU, Resource.TRAINING]) as queues:
        await temporal("workflow", "start", "--type", "PatientRiskPipeline", "--task-queue", queues.pipelines,
                       "--workflow-id", bad, "--input", '{"run_date": "2026-13-40"}', address=address)
        shown = await temporal("workflow", "result", "-w", bad, address=address, check=False)
        assert "Encoded failure" in shown.stdout  # what the Temporal CLI shows of it
        await temporal("workflow", "start", "--type", "TrainingPipeline", "--task-queue", queues.pipelines,
                       "--workflow-id", good, "--input", json.dumps(body), address=address)
        await listed(address, f'MlwrightState = "awaiting_approval" AND WorkflowId = "{good}"', lambda rs: len(rs) == 1)
        await temporal("workflow", "update", "execute", "-w", good, "--name", "reject",
                       "--input", '{"approver": "dana", "reason": "not yet"}', address=address)
        await temporal("workflow", "result", "-w", good, address=address)

        refused = mlwright_inspect(address, bad, "--json")
        assert refused.returncode == 0, refused.stderr
        found = json.loads(refused.stdout)
        assert (found["workflow_id"], found["type"], found["status"]) == (bad, "PatientRiskPipeline", "failed")
        assert found["failure"][0]["type"] == "InvalidInput" and "run_date" in found["failure"][0]["message"]

        finished = json.loads(mlwright_inspect(address, good, "--json").stdout)
        assert (finished["status"], finished["result"]["decision"]) == ("completed", "rejected")
        text = mlwright_inspect(address, bad).stdout
        assert "status   failed" in text and "failure  InvalidInput: " in text

    missing = mlwright_inspect(address, "no-such-run")
    assert missing.returncode != 0 and "workflow_id: no run 'no-such-run'" in missing.stderr
