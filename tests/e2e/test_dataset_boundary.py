"""Attacks on the input boundary through a real TrainingPipeline run, started with the `temporal` CLI.

Each run must fail within seconds, non-retryably, with a message naming `dataset`; the SQL attack
must leave the database as it was.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from mlwright.sample_data import write_sample
from tests.conftest import running_workers, target_of
from tests.e2e.temporal_cli import temporal
from tests.workflows.waiting import wait_for_status

pytestmark = pytest.mark.e2e

ATTACKS = {
    "drop table": ({"source": "local", "path": "shop.db", "query": "DROP TABLE victim"},
                   "dataset.query: must be a SELECT statement, got DROP"),
    "two statements": ({"source": "local", "path": "shop.db", "query": "SELECT 1; DROP TABLE victim"},
                       "dataset.query: must be a single SELECT statement, got 2 statements"),
    "etc passwd": ({"uri": "file:///etc/passwd"}, "dataset.uri: 'file:///etc/passwd' is outside the data roots"),
    "dot dot": ({"uri": "../../../../../../etc/passwd"}, "is outside the data roots"),
    "nul byte": ({"source": "local", "path": "shop\x00.csv"}, "dataset.path: Value error, must not contain a NUL"),
}


def innermost(error: BaseException) -> ApplicationError:
    while not isinstance(error, ApplicationError) and error.__cause__ is not None:
        error = error.__cause__
    assert isinstance(error, ApplicationError)
    return error


@pytest.mark.parametrize(("dataset", "message"), ATTACKS.values(), ids=ATTACKS.keys())
async def test_attack_fails_the_run_fast_naming_dataset(dev_env, settings, deps, dataset, message):
    shop = settings.resolved_data_roots["local"] / "shop.db"
    shop.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(shop) as conn:
        conn.execute("CREATE TABLE victim (x int)")
    address = target_of(dev_env.client)
    wid = f"boundary-{uuid.uuid4()}"
    body = {"model_name": "victim", "dataset": {**dataset, "target": "x"}}
    async with running_workers(dev_env.client, settings, deps) as queues:
        started = time.monotonic()
        await temporal("workflow", "start", "--type", "TrainingPipeline", "--task-queue", queues.pipelines,
                       "--workflow-id", wid, "--input", json.dumps(body), address=address)
        handle = dev_env.client.get_workflow_handle(wid)
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), timeout=20)
        elapsed = time.monotonic() - started

    cause = innermost(failed.value)
    assert cause.type == "InvalidInput" and cause.non_retryable
    assert message in cause.message
    assert elapsed < 5, f"took {elapsed:.1f}s to fail"
    attempts = [e.activity_task_started_event_attributes.attempt async for e in handle.fetch_history_events()
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    assert set(attempts) <= {1}, f"a step was retried: attempts {attempts}"
    with sqlite3.connect(shop) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("victim",)]


async def test_the_readme_walkthrough_reads_a_named_source(dev_env, settings, deps):
    """`"dataset": {"source": "local", "path": "wine.csv"}` as in the README, through the CLI."""
    write_sample("wine", settings.resolved_data_roots["local"])
    address = target_of(dev_env.client)
    wid = f"named-{uuid.uuid4()}"
    body = {"model_name": "wine", "dataset": {"source": "local", "path": "wine.csv", "target": "target"}}
    async with running_workers(dev_env.client, settings, deps) as queues:
        await temporal("workflow", "start", "--type", "TrainingPipeline", "--task-queue", queues.pipelines,
                       "--workflow-id", wid, "--input", json.dumps(body), address=address)
        handle = dev_env.client.get_workflow_handle(wid)
        status = await wait_for_status(handle, lambda s: s.step not in ("starting", "check_input", "extract"), timeout_s=30)
        await handle.terminate("the extraction is all this test needs")
    assert status.step != "extract"
    completed = [e async for e in handle.fetch_history_events()
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED]
    assert completed, "extract_dataset did not complete"
