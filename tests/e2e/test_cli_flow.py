"""The operator's flow with nothing but the `temporal` CLI, against the real dev server."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from mlwright.store import registry
from mlwright.store.db import session_scope
from tests.conftest import running_workers, target_of
from tests.e2e.temporal_cli import failure_messages, query_json, temporal

pytestmark = pytest.mark.e2e


async def test_start_approve_and_promote_from_the_cli(dev_env, settings, deps, breast_cancer_csv):
    address = target_of(dev_env.client)
    wid = f"cli-{uuid.uuid4()}"
    body = {"model_name": "bc-cli", "dataset": {"uri": f"file://{breast_cancer_csv}", "target": "target"},
            "estimator": {"name": "random_forest", "params": {"n_estimators": 50}},
            "promotion": {"canary_duration": "2s"}}
    async with running_workers(dev_env.client, settings, deps) as queues:
        await temporal("workflow", "start", "--type", "TrainingPipeline", "--task-queue", queues.pipelines,
                       "--workflow-id", wid, "--input", json.dumps(body), address=address)
        for _ in range(300):
            status = await query_json(wid, "status", address)
            if status["awaiting_approval"]:
                break
            await asyncio.sleep(0.1)
        assert status["awaiting_approval"] and status["candidate_version"] == 1

        refused = await temporal("workflow", "update", "execute", "-w", wid, "--name", "approve",
                                 "--input", '{"approver": "", "reason": "x"}', address=address, check=False)
        assert refused.returncode != 0 and "approver must not be empty" in refused.stderr
        await temporal("workflow", "update", "execute", "-w", wid, "--name", "approve",
                       "--input", '{"approver": "dana", "reason": "reviewed"}', address=address)
        done = await temporal("workflow", "result", "-w", wid, "-o", "json", address=address)

    result = json.loads(done.stdout)["result"]
    assert (result["decision"], result["version"], result["decided_by"]) == ("promoted", 1, "dana")
    with session_scope(deps.engine) as session:
        production = registry.version_in_stage(session, model_name="bc-cli", stage="production")
        assert production.version == 1 and production.estimator == "random_forest"
        assert production.params["n_estimators"] == 50


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ('{"model_name": "x"}', "dataset: Field required"),
        ('{"model_name": "x", "dataset": {"uri": "a.csv", "target": "y"}, "split": {"test_size": "abc"}}',
         "split.test_size"),
        ('{"model_name": "x", "dataset": {"uri": "a.csv", "target": "y"}, "estimator": {"name": "svm"}}',
         "unknown estimator 'svm'"),
        ('"not an object"', "invalid TrainingPipeline input"),
        ('{"model_name": "x", "dataset": {"uri": "a.csv", "target": "y"}, "split": {"seed": -5}}',
         "split.seed: Input should be greater than or equal to 0"),
    ],
)
async def test_invalid_cli_input_fails_the_run_within_seconds(dev_env, settings, deps, body, named):
    address = target_of(dev_env.client)
    wid = f"bad-{uuid.uuid4()}"
    async with running_workers(dev_env.client, settings, deps) as queues:
        await temporal("workflow", "start", "--type", "TrainingPipeline", "--task-queue", queues.pipelines,
                       "--workflow-id", wid, "--input", body, address=address)
        for _ in range(50):
            described = json.loads((await temporal("workflow", "describe", "-w", wid, "-o", "json",
                                                   address=address)).stdout)
            if described["workflowExecutionInfo"]["status"] != "WORKFLOW_EXECUTION_STATUS_RUNNING":
                break
            await asyncio.sleep(0.1)
    assert described["workflowExecutionInfo"]["status"] == "WORKFLOW_EXECUTION_STATUS_FAILED"
    # Failure messages are sealed like payloads (`workflow result` prints "Encoded failure"); the history,
    # decoded through the codec server, names the field.
    history = await temporal("workflow", "show", "-w", wid, "-o", "json", address=address)
    assert any(named in message for message in failure_messages(json.loads(history.stdout)))


async def wait_for_cli_status(wid: str, condition, address: str, timeout_s: float = 60) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        status = await query_json(wid, "status", address)
        if condition(status):
            return status
        assert asyncio.get_running_loop().time() < deadline, f"condition not reached; last status {status}"
        await asyncio.sleep(0.1)


async def test_signal_approval_promotes_and_invalid_signals_are_recorded_as_refused(dev_env, settings, deps,
                                                                                   breast_cancer_csv):
    address = target_of(dev_env.client)
    wid = f"cli-signal-{uuid.uuid4()}"
    body = {"model_name": "bc-signal", "dataset": {"uri": str(breast_cancer_csv), "target": "target"},
            "estimator": {"name": "logistic_regression"}, "promotion": {"canary_duration": "1s"}}
    async with running_workers(dev_env.client, settings, deps) as queues:
        await temporal("workflow", "start", "--type", "TrainingPipeline", "--task-queue", queues.pipelines,
                       "--workflow-id", wid, "--input", json.dumps(body), address=address)
        await wait_for_cli_status(wid, lambda s: s["awaiting_approval"], address)

        # A signal cannot be refused to its sender: the CLI reports success, the run records the refusal.
        for bad in ('{"approver": " ", "reason": "x"}', '{"who": "eve"}'):
            await temporal("workflow", "signal", "-w", wid, "--name", "approve", "--input", bad,
                           address=address)
        await temporal("workflow", "signal", "-w", wid, "--name", "reject", address=address)  # no input
        status = await wait_for_cli_status(wid, lambda s: len(s.get("refused") or []) == 3, address)
        assert status["awaiting_approval"]
        assert [(r["action"], r["refusal"]) for r in status["refused"]] == [
            ("approve", "approver must not be empty"),
            ("approve",
             "invalid approve input: approver: Field required; who: Extra inputs are not permitted"),
            ("reject", 'reject needs input: {"approver": "<who decides>", "reason": "<why>"}'),
        ]
        # The same mistake as an Update is refused to the caller, naming what is missing.
        no_input = await temporal("workflow", "update", "execute", "-w", wid, "--name", "approve",
                                  address=address, check=False)
        assert no_input.returncode != 0 and "approve needs input" in no_input.stderr

        await temporal("workflow", "signal", "-w", wid, "--name", "approve",
                       "--input", '{"approver": "erin", "reason": "signed off"}', address=address)
        done = await temporal("workflow", "result", "-w", wid, "-o", "json", address=address)

    result = json.loads(done.stdout)["result"]
    assert (result["decision"], result["decided_by"]) == ("promoted", "erin")
    assert len(result["refused"]) == 3
    with session_scope(deps.engine) as session:
        assert registry.version_in_stage(session, model_name="bc-signal", stage="production").version == 1
        trail = [(t.stage, t.version, t.actor, t.reason)
                 for t in registry.transitions(session, model_name="bc-signal")]
    # The refusals are in the registry's audit trail too, filed against the candidate they concerned
    # (each by its own activity, so in any order).
    assert sorted(t for t in trail if t[0] == "refused") == sorted([
        ("refused", 1, " ", "approve signal refused: approver must not be empty"),
        ("refused", 1, "(no approver)", "approve signal refused: invalid approve input: approver: Field required; "
                                        "who: Extra inputs are not permitted"),
        ("refused", 1, "(no approver)", 'reject signal refused: reject needs input: {"approver": "<who decides>", '
                                        '"reason": "<why>"}'),
    ])
    assert ("production", 1, "erin") in {t[:3] for t in trail}
