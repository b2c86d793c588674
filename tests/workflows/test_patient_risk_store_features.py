"""PatientRiskPipeline started by FeaturePipeline reads the date's features from the offline store;
standalone it computes them; both give the same features and the same scores."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import pytest_asyncio
from sqlmodel import select

from activities.deps import ActivityDeps
from mlwright import schedule_file, schedules
from mlwright.contracts.feature_pipeline import FeaturePipelineResult
from mlwright.contracts.patient_risk import FeatureTable, PatientRiskResult
from mlwright.patient_risk import bootstrap
from mlwright.queues import QueueSet
from mlwright.store.db import session_scope
from mlwright.store.tables import RunLineage
from tests.conftest import running_workers
from tests.workflows.patient_risk_world import RUN_DATE, start_services

pytestmark = pytest.mark.e2e


@pytest_asyncio.fixture
async def hospital(dev_env, tmp_path):
    settings, _, _, servers = start_services(tmp_path / "hospital")
    settings = settings.model_copy(update={"task_queue_prefix": f"sf{uuid.uuid4().hex[:8]}-"})
    async with running_workers(dev_env.client, settings, ActivityDeps.from_settings(settings)):
        await bootstrap.train_models(dev_env.client, settings, patients=1000, seed=5, run_date=RUN_DATE,
                                     say=lambda _line: None)
    yield settings
    for server in servers:
        server.stop()


async def _feature_table(client, handle) -> FeatureTable:
    """compute_features' result, as the history holds it."""
    scheduled: dict[int, str] = {}
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        if event.HasField("activity_task_completed_event_attributes"):
            done = event.activity_task_completed_event_attributes
            if scheduled[done.scheduled_event_id] == "compute_features":
                (table,) = await client.data_converter.decode(done.result.payloads, [FeatureTable])
                return table
    raise AssertionError("compute_features never completed")


def _lineage(engine, workflow_id: str) -> dict:
    with session_scope(engine) as session:
        rows = session.exec(select(RunLineage).where(RunLineage.run_key.startswith(f"{workflow_id}/"))).all()
    (row,) = rows
    return row.outputs


async def test_store_fed_and_self_computed_features_give_the_same_scores(dev_env, hospital, tmp_path: Path):
    client, settings = dev_env.client, hospital
    deps = ActivityDeps.from_settings(settings)
    queues = QueueSet(settings.task_queue_prefix)
    path = tmp_path / "deps.toml"
    path.write_text('[[dependency]]\nupstream = "FeaturePipeline"\ndownstream = "PatientRiskPipeline"\n')
    await schedules.apply(client, schedule_file.load(path), queues, settings.resolved_database_url)
    async with running_workers(client, settings, deps):
        alone = await client.start_workflow("PatientRiskPipeline", {"run_date": RUN_DATE.isoformat()},
                                            id=f"patient-risk-alone-{uuid.uuid4().hex[:6]}",
                                            task_queue=queues.pipelines, result_type=PatientRiskResult)
        standalone = await alone.result()
        features = await client.start_workflow("FeaturePipeline", {"run_date": RUN_DATE.isoformat()},
                                               id=f"features-{uuid.uuid4().hex[:6]}", task_queue=queues.pipelines,
                                               result_type=FeaturePipelineResult)
        await features.result()
        fed = client.get_workflow_handle(f"{queues.prefix}PatientRiskPipeline-{RUN_DATE.isoformat()}",
                                         result_type=PatientRiskResult)
        store_fed = await fed.result()  # started by the FeaturePipeline completion

    computed, from_store = await _feature_table(client, alone), await _feature_table(client, fed)
    assert computed.source == "computed" and from_store.source == "feature_store"
    assert from_store.data.columns == computed.data.columns and len(computed.data.columns) == 48  # patient_id + 47
    assert from_store.data.artifact.sha256 == computed.data.artifact.sha256  # the same bytes
    a, b = _lineage(deps.engine, alone.id), _lineage(deps.engine, fed.id)
    assert b["risk"]["sha256"] == a["risk"]["sha256"]  # the same scores, tiers and rule overrides
    assert store_fed.tiers == standalone.tiers and store_fed.model_versions == standalone.model_versions
