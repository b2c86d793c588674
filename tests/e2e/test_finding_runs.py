"""Operators find runs by search attributes: the `temporal` CLI's visibility query and `mlwright runs`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from mlwright import visibility
from mlwright.client import client_options
from tests.conftest import running_workers, target_of
from tests.e2e.temporal_cli import attributes, listed, temporal
from tests.helpers import venv_bin

pytestmark = pytest.mark.e2e


def mlwright_runs(address: str, *args: str) -> list[dict]:
    env = {**os.environ, "MLWRIGHT_TEMPORAL_ADDRESS": address}
    out = subprocess.run([sys.executable, "-m", "mlwright.cli", "runs", "--json", *args], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


async def test_a_training_run_awaiting_approval_is_found_and_its_state_follows_the_run(
        dev_env, settings, deps, breast_cancer_csv):
    address = target_of(dev_env.client)
    model = f"find-{uuid.uuid4().hex[:8]}"
    wid = f"find-{uuid.uuid4()}"
    body = {"model_name": model, "dataset": {"uri": str(breast_cancer_csv), "target": "target"},
            "estimator": {"name": "logistic_regression"}, "promotion": {"canary_duration": "1s"}}
    async with running_workers(dev_env.client, settings, deps) as queues:
        await temporal("workflow", "start", "--type", "TrainingPipeline", "--task-queue", queues.pipelines,
                       "--workflow-id", wid, "--input", json.dumps(body), address=address)
        waiting = f'MlwrightState = "awaiting_approval" AND TaskQueue = "{queues.pipelines}"'
        runs = await listed(address, waiting, lambda rs: len(rs) == 1)
        assert runs[0]["execution"]["workflowId"] == wid
        assert attributes(runs[0]) | {"MlwrightPipeline": "TrainingPipeline", "MlwrightModel": model,
                                      "MlwrightStep": "await_approval",
                                      "MlwrightTriggeredBy": "cli"} == attributes(runs[0])

        found = mlwright_runs(address, "--model", model, "--state", "awaiting_approval")
        assert [(r["workflow_id"], r["pipeline"], r["step"]) for r in found] == [
            (wid, "TrainingPipeline", "await_approval")]

        await temporal("workflow", "update", "execute", "-w", wid, "--name", "approve",
                       "--input", '{"approver": "dana", "reason": "reviewed"}', address=address)
        done = await temporal("workflow", "result", "-w", wid, "-o", "json", address=address)
    assert '"promoted"' in done.stdout
    promoted = await listed(address, f'MlwrightModel = "{model}" AND MlwrightState = "promoted"',
                            lambda rs: len(rs) == 1)
    assert "MlwrightStep" not in attributes(promoted[0])
    assert await listed(address, waiting, lambda rs: rs == []) == []


async def test_bad_filters_are_refused_before_any_query():
    with pytest.raises(ValueError, match="MlwrightModel"):
        visibility.RunFilter(model='x" OR WorkflowType != "').query()


async def test_a_namespace_without_the_attributes_gets_the_command_that_registers_them():
    bare = await WorkflowEnvironment.start_local(dev_server_existing_path=venv_bin("temporal"), **client_options())
    try:
        with pytest.raises(visibility.SearchAttributesMissing, match="mlwright search-attributes register"):
            await visibility.require(bare.client, register_if_missing=False)
        with pytest.raises(visibility.SearchAttributesMissing, match="temporal operator search-attribute create"):
            await visibility.find_runs(bare.client, visibility.RunFilter(state="running"))
        assert await visibility.register(bare.client) == [k.name for k in visibility.ALL]
        assert await visibility.missing(bare.client) == []
        await visibility.require(bare.client, register_if_missing=False)
    finally:
        await bare.shutdown()
