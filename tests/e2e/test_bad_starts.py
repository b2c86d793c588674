"""Malformed starts through the real `temporal` CLI fail the run within seconds, never retry forever.

Before the run-entry guard, each of these failed the first workflow task and Temporal retried it
for ever (issue 6, item 4): the run stayed Running with nothing to tell the user why.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from mlwright.errors import ErrorType
from mlwright.queues import Resource
from tests.conftest import running_workers, target_of
from tests.e2e.temporal_cli import temporal

pytestmark = pytest.mark.e2e

TRAINING = {"model_name": "x", "dataset": {"uri": "a.csv", "target": "y"}}
BINARY = ["--input", '{"run_date": "2026-11-27"}', "--input-meta", "encoding=binary/plain"]


def with_promotion(**promotion: str) -> list[str]:
    return ["--input", json.dumps({**TRAINING, "promotion": promotion})]


CASES = [
    ("TrainingPipeline", [], "expected exactly one JSON object (--input '{...}'), got no input"),
    ("TrainingPipeline", ["--input", json.dumps(TRAINING)] * 2, "got 2 inputs"),
    ("TrainingPipeline", BINARY, "the input is not JSON (it arrived with encoding binary/plain)"),
    ("TrainingPipeline", ["--input", "[1, 2]"], "must be a JSON object, got a JSON array"),
    ("TrainingPipeline", with_promotion(approval_timeout="99999999999d"),
     "promotion.approval_timeout: Value error, must be at most 365 days, got '99999999999d'"),
    ("TrainingPipeline", with_promotion(canary_duration="-5s"),
     "promotion.canary_duration: Value error, must not be negative, got '-5s'"),
    ("PatientRiskPipeline", [], "got no input"),
    ("PatientRiskPipeline", ["--input", '{"run_date": "2026-11-27"}'] * 3, "got 3 inputs"),
    ("PatientRiskPipeline", BINARY, "encoding binary/plain"),
]


@pytest.mark.parametrize(("workflow_type", "input_args", "message"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
async def test_malformed_start_fails_the_run_at_once_naming_the_problem(dev_env, settings, workflow_type,
                                                                       input_args, message):
    address = target_of(dev_env.client)
    wid = f"bad-start-{uuid.uuid4()}"
    async with running_workers(dev_env.client, settings, None, resources=[Resource.PIPELINES]) as queues:
        started = time.monotonic()
        await temporal("workflow", "start", "--type", workflow_type, "--task-queue", queues.pipelines,
                       "--workflow-id", wid, *input_args, address=address)
        handle = dev_env.client.get_workflow_handle(wid)
        with pytest.raises(WorkflowFailureError) as failed:
            # A hang would be the bug itself: bound the wait on the run's result.
            await asyncio.wait_for(handle.result(), timeout=15)
        elapsed = time.monotonic() - started

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == (ErrorType.INVALID_INPUT, True)
    assert cause.message.startswith(f"invalid {workflow_type} input: ") and message in cause.message
    assert elapsed < 5, f"took {elapsed:.1f}s to fail"
    events = [e.event_type async for e in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events, "the input was retried, not refused"
    assert events[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
