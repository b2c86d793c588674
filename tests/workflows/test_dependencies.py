"""Explicit dependencies on the dev server: a completed PatientRiskPipeline starts its declared
downstream once per date (as a child it abandons); a re-run for the date starts nothing more; a
failed upstream starts nothing."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from activities.deps import ActivityDeps
from mlwright import schedule_file, schedules
from mlwright.contracts.patient_risk import PatientRiskInput, PatientRiskResult
from mlwright.patient_risk import bootstrap
from mlwright.queues import QueueSet
from tests.conftest import running_workers
from tests.workflows.patient_risk_world import RUN_DATE, World, start_services
from workflows._downstream import UPSTREAM_MEMO

pytestmark = pytest.mark.e2e


@pytest_asyncio.fixture(scope="module")
async def world(dev_env, tmp_path_factory):
    settings, inbox, dials, servers = start_services(tmp_path_factory.mktemp("hospital-deps"))
    w = World(settings=settings.model_copy(update={"task_queue_prefix": f"dep{uuid.uuid4().hex[:6]}-"}),
              inbox=inbox, **dials)
    async with running_workers(dev_env.client, w.settings, ActivityDeps.from_settings(w.settings)):
        await bootstrap.train_models(dev_env.client, w.settings, patients=2000, seed=5, run_date=RUN_DATE,
                                     say=lambda _line: None)
    yield w
    for server in servers:
        server.stop()


async def start(client, queues, run_date: date, **extra):
    inp = {"run_date": run_date.isoformat(), **extra}
    return await client.start_workflow("PatientRiskPipeline", inp, id=f"patient-risk-{uuid.uuid4()}",
                                       task_queue=queues.pipelines, result_type=PatientRiskResult)


async def event_types(handle) -> list[int]:
    return [e.event_type async for e in handle.fetch_history_events()]


async def test_an_upstream_completion_starts_the_downstream_once_per_date_and_a_failure_none(
        dev_env, world, tmp_path: Path):
    client, settings = dev_env.client, world.variant()
    # "RiskReport" stands for any later pipeline: named by type, served by no worker here, so it
    # stays Running and the test sees exactly what was started.
    path = tmp_path / "deps.toml"
    path.write_text('[[dependency]]\nupstream = "PatientRiskPipeline"\ndownstream = "RiskReport"\n'
                    'input = { audience = "care-team" }\n')
    queues = QueueSet(settings.task_queue_prefix)
    await schedules.apply(client, schedule_file.load(path), queues, settings.resolved_database_url)
    downstream_id = f"{settings.task_queue_prefix}RiskReport-{RUN_DATE.isoformat()}"
    async with running_workers(client, settings, ActivityDeps.from_settings(settings)):
        first = await start(client, queues, RUN_DATE)
        assert (await first.result()).state == "completed"
        second = await start(client, queues, RUN_DATE)  # a re-run for the same date
        assert (await second.result()).state == "completed"
        bad = await start(client, queues, date(2026, 11, 28), fhir_batch_size=0)
        with pytest.raises(WorkflowFailureError):
            await bad.result()

    found = [w async for w in client.list_workflows(f'WorkflowType = "RiskReport" AND TaskQueue = "{queues.pipelines}"')]
    assert [w.id for w in found] == [downstream_id]  # one, for the date that completed; none for the failure
    by_upstream = [w.id async for w in client.list_workflows(
        f'MlwrightTriggeredBy = "upstream" AND TaskQueue = "{queues.pipelines}"')]
    assert by_upstream == [downstream_id]
    down = client.get_workflow_handle(downstream_id)
    desc = await down.describe()
    try:
        assert desc.status == WorkflowExecutionStatus.RUNNING  # outlives the upstream (ABANDON)
        assert desc.parent_id == first.id
        started = [e async for e in down.fetch_history_events()][0].workflow_execution_started_event_attributes
        [payload] = await client.data_converter.decode([started.input.payloads[0]], [dict])
        assert payload == {"audience": "care-team", "run_date": RUN_DATE.isoformat()}
        sa = desc.typed_search_attributes
        from mlwright import visibility as v
        assert sa.get(v.TRIGGERED_BY) == "upstream"
        assert sa.get(v.UPSTREAM) == f"{first.id}/{first.result_run_id}"
        memo = (await desc.memo())[UPSTREAM_MEMO]
        assert memo["workflow_id"] == first.id and memo["run_date"] == RUN_DATE.isoformat()
        assert sum(memo["result"]["tiers"].values()) == memo["result"]["patients"] > 0

        assert EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED in await event_types(first)
        second_events = await event_types(second)
        assert EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED in second_events
        assert EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED not in second_events
    finally:
        await down.terminate("test over")


def test_a_patient_risk_downstream_receives_the_upstream_run_in_its_input():
    from mlwright.contracts.triggers import UpstreamRun

    dep = schedule_file.DependencySpec(upstream="FeaturePipeline", downstream="PatientRiskPipeline")
    up = UpstreamRun(workflow_type="FeaturePipeline", workflow_id="feature-pipeline-1", run_id="r1",
                     run_date=RUN_DATE, result={"rows": 10})
    inp = PatientRiskInput.model_validate(schedule_file.downstream_input(dep, up))
    assert inp.run_date == RUN_DATE and inp.upstream == up
