"""FeaturePipeline's drift reference: the production model's training data, a chosen partition, or the last one."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from activities.deps import ActivityDeps
from mlwright.contracts.feature_pipeline import FeaturePipelineResult
from mlwright.patient_risk import bootstrap, synthetic
from mlwright.store import registry
from mlwright.store.db import session_scope
from mlwright.store.tables import ModelVersionCreate
from tests.conftest import running_workers
from tests.workflows.patient_risk_world import PATIENTS, RUN_DATE, start_services

DAY1, DAY2 = RUN_DATE - timedelta(days=1), RUN_DATE


@pytest.fixture
def world(tmp_path):
    settings, _, _, servers = start_services(tmp_path)
    yield settings.model_copy(update={"task_queue_prefix": f"fr{uuid.uuid4().hex[:8]}-"})
    for server in servers:
        server.stop()


def _promote_model_trained_on_older_patients(deps: ActivityDeps) -> None:
    """A production readmission-risk whose training split (kept by sha256, as TrainingPipeline records it)
    is 15 years older than today's patients: drift against it is unmistakable on age only."""
    history = synthetic.generate(PATIENTS, 7, RUN_DATE)
    table = bootstrap.feature_frame(history, RUN_DATE)
    table = table.assign(age=(table["age"] + 15).clip(upper=120), readmission_30d=0).reset_index(drop=True)
    data = deps.artifacts.put_frame(table)
    with session_scope(deps.engine) as session:
        row = registry.register_version(session, data=ModelVersionCreate(
            model_name="readmission-risk", task="classification", estimator="logistic_regression",
            artifact_uri=data.artifact.uri, artifact_sha256=data.artifact.sha256, artifact_size=1,
            data_sha256=data.artifact.sha256, data_rows=data.rows, source_run="test/run"))
        registry.set_stage(session, model_name="readmission-risk", version=row.version, stage="production",
                           actor="test", reason="reference under test", idempotency_key=uuid.uuid4().hex)


async def _run(client, queues, day, **extra) -> FeaturePipelineResult:
    handle = await client.start_workflow(
        "FeaturePipeline", {"run_date": day.isoformat(), **extra}, id=f"features-{day}-{uuid.uuid4().hex[:6]}",
        task_queue=queues.pipelines, result_type=FeaturePipelineResult)
    return await handle.result()


async def test_the_production_models_training_data_is_the_default_reference(dev_env, world):
    settings, client = world, dev_env.client
    deps = ActivityDeps.from_settings(settings)
    async with running_workers(client, settings, deps) as queues:
        alone = await _run(client, queues, DAY1)  # no model in production yet, nothing earlier: no drift measured
        assert alone.reference is None and alone.drift_level == "none"

        _promote_model_trained_on_older_patients(deps)
        trained = await _run(client, queues, DAY2)
        assert trained.reference == "readmission-risk v1 training data" and trained.reference_date is None
        assert trained.drift_level == "critical" and "age" in trained.drifted and "has_diabetes" not in trained.drifted

        chosen = await _run(client, queues, DAY2, reference_date=DAY1.isoformat())
        assert chosen.reference == f"partition {DAY1}" and chosen.reference_date == DAY1.isoformat()
        assert "age" not in chosen.drifted  # the same population a day apart

        unknown = await _run(client, queues, DAY2, reference_model="no-such-model")  # not in the registry
    assert unknown.reference == f"partition {DAY1}"  # falls back to the latest earlier partition
