"""FeaturePipeline on the dev server: stores filled once per date, drift alerted once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from temporalio.client import WorkflowFailureError

from activities.deps import ActivityDeps
from activities.feature_store.stores import feature_root
from mlwright import schedule_file, schedules
from mlwright import visibility as v
from mlwright.contracts.feature_pipeline import FeaturePipelineResult, FeatureProgress
from mlwright.contracts.patient_risk import PatientRiskInput
from mlwright.features import offline, stats
from mlwright.features.online import open_online_store
from mlwright.patient_risk import bootstrap, sources
from mlwright.queues import QueueSet
from mlwright.store.db import session_scope
from tests.conftest import running_workers
from tests.workflows.patient_risk_world import PATIENTS, RUN_DATE, start_services

DAY1, DAY2 = RUN_DATE - timedelta(days=1), RUN_DATE


@pytest.fixture
def world(tmp_path):
    settings, inbox, _, servers = start_services(tmp_path)
    settings = settings.model_copy(update={"task_queue_prefix": f"fp{uuid.uuid4().hex[:8]}-"})
    yield settings, inbox
    for server in servers:
        server.stop()


async def _run(client, queues, day, **extra) -> tuple[FeaturePipelineResult, FeatureProgress]:
    handle = await client.start_workflow(
        "FeaturePipeline", {"run_date": day.isoformat(), **extra}, id=f"features-{day}-{uuid.uuid4().hex[:6]}",
        task_queue=queues.pipelines, result_type=FeaturePipelineResult)
    result = await handle.result()
    return result, await handle.query("progress", result_type=FeatureProgress)


def _shift_ages(settings, years: int) -> None:
    where = sources.SourceLocations.under(settings.resolved_sources_root, settings.ehr_url)
    engine = sa.create_engine(where.ehr_url)
    with engine.begin() as conn:
        conn.execute(sa.text("update patients set age = min(age + :y, 120)"), {"y": years})
    engine.dispose()


async def test_runs_once_per_date_and_alerts_drift_once(dev_env, world):
    settings, inbox = world
    deps = ActivityDeps.from_settings(settings)
    client = dev_env.client
    root = feature_root(settings)
    async with running_workers(client, settings, deps) as queues:
        first, progress = await _run(client, queues, DAY1)
        assert progress.state == "completed" and all(s.state == "completed" for s in progress.steps)
        assert first.entities == first.offline_rows == first.online_rows == PATIENTS
        assert first.features == first.stats_features == 47
        assert first.drift_level == "none" and first.reference_date is None  # nothing earlier to compare with

        again, _ = await _run(client, queues, DAY1)  # a second run for the same date
        assert again.offline_partition == first.offline_partition
        assert len(offline.read(root, "patient_risk")) == PATIENTS
        assert open_online_store(settings).count("patient_risk") == PATIENTS
        with session_scope(deps.engine) as session:
            assert len(stats.load(session, feature_set="patient_risk", run_key=f"patient_risk/{DAY1}")) == 47
        assert not inbox.received

        _shift_ages(settings, 12)
        drifted, _ = await _run(client, queues, DAY2)
        assert drifted.drift_level == "critical" and drifted.reference_date == DAY1.isoformat()
        assert "age" in drifted.drifted and "has_diabetes" not in drifted.drifted
        assert drifted.alerts_sent == 1
        assert (root.parent / "feature-reports").exists() and drifted.report["html"].endswith("drift.html")
        assert len(offline.read(root, "patient_risk")) == 2 * PATIENTS
        assert open_online_store(settings).count("patient_risk") == PATIENTS  # latest per entity

        repeat, _ = await _run(client, queues, DAY2)
        assert repeat.drift_level == "critical" and repeat.alerts_sent == 0

    assert [a["kind"] for a in inbox.received] == ["feature_drift"]
    assert sum(inbox.deliveries.values()) == 1  # not even a repeat POST for the receiver to drop
    alert = inbox.received[0]
    assert alert["dedup_key"] == f"features/patient_risk/{DAY2}/drift" and alert["severity"] == "critical"
    assert "age" in alert["critical"] and "patient_id" not in alert


async def test_a_completed_run_starts_the_declared_patient_risk_run_for_its_date(dev_env, world, tmp_path):
    settings, _ = world
    client = dev_env.client
    path = tmp_path / "deps.toml"
    path.write_text('[[dependency]]\nupstream = "FeaturePipeline"\ndownstream = "PatientRiskPipeline"\n')
    queues = QueueSet(settings.task_queue_prefix)
    await schedules.apply(client, schedule_file.load(path), queues, settings.resolved_database_url)
    downstream = client.get_workflow_handle(f"{queues.prefix}PatientRiskPipeline-{DAY1.isoformat()}")
    async with running_workers(client, settings, ActivityDeps.from_settings(settings)):
        bad = await client.start_workflow("FeaturePipeline", {"run_date": "2026-1-1"}, id=f"bad-{uuid.uuid4().hex[:6]}",
                                          task_queue=queues.pipelines)
        with pytest.raises(WorkflowFailureError) as failed:
            await bad.result()
        assert "run_date" in str(failed.value.cause)
        missing = await client.start_workflow("FeaturePipeline", {"run_date": str(DAY1), "reference_date": "2020-01-01"},
                                              id=f"noref-{uuid.uuid4().hex[:6]}", task_queue=queues.pipelines)
        with pytest.raises(WorkflowFailureError) as failed:
            await missing.result()
        assert "reference_date: no partition of patient_risk for 2020-01-01" in str(failed.value.cause.cause)
        first, _ = await _run(client, queues, DAY1)
        try:
            desc = await downstream.describe()
            started = [e async for e in downstream.fetch_history_events()][0].workflow_execution_started_event_attributes
        finally:
            await downstream.terminate("test over")  # its models are not trained here: only its start matters
    (payload,) = await client.data_converter.decode(started.input.payloads, [dict])  # sealed by the codec
    assert payload["run_date"] == DAY1.isoformat()
    assert payload["upstream"]["workflow_type"] == "FeaturePipeline"
    assert payload["upstream"]["result"]["entities"] == first.entities == PATIENTS
    assert PatientRiskInput.model_validate(payload).upstream.workflow_id == desc.parent_id  # a valid input
    assert desc.typed_search_attributes.get(v.UPSTREAM).startswith(f"features-{DAY1}-")
    found = [w.id async for w in client.list_workflows(
        f'WorkflowType = "PatientRiskPipeline" AND TaskQueue = "{queues.pipelines}"')]
    assert found == [downstream.id]  # the failed run started nothing


async def test_without_run_date_a_run_computes_the_day_it_started(dev_env, world):
    settings, _ = world
    client = dev_env.client
    # Sources as of today, so validation (freshness) passes: only the date the run picks is under test.
    bootstrap.seed_sources(settings, PATIENTS, seed=11, run_date=datetime.now(UTC).date())
    async with running_workers(client, settings, ActivityDeps.from_settings(settings)) as queues:
        handle = await client.start_workflow("FeaturePipeline", {"feature_set": "patient_risk"},
                                             id=f"features-today-{uuid.uuid4().hex[:6]}", task_queue=queues.pipelines,
                                             result_type=FeaturePipelineResult)
        result = await handle.result()
        started = (await handle.describe()).start_time
    assert result.run_date == started.date().isoformat() and result.entities == PATIENTS
