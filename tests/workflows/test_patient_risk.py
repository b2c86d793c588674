"""PatientRiskPipeline end to end on the dev server: real sources, services, models and writes."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa
from temporalio.api.enums.v1 import EventType

from activities.deps import ActivityDeps
from mlwright.contracts.patient_risk import PatientRiskInput, PatientRiskResult, Progress
from mlwright.patient_risk import bootstrap
from mlwright.store import runs
from mlwright.store.db import session_scope
from tests.conftest import running_workers, target_of
from tests.e2e.temporal_cli import temporal
from tests.workflows.patient_risk_world import PATIENTS, RUN_DATE, World, start_services

pytestmark = pytest.mark.e2e


@pytest_asyncio.fixture(scope="module")
async def world(dev_env, tmp_path_factory):
    delay = [0.0]
    settings, inbox, servers = start_services(tmp_path_factory.mktemp("hospital"), delay)
    w = World(settings=settings.model_copy(update={"task_queue_prefix": "prboot-"}), inbox=inbox, fhir_delay=delay)
    deps = ActivityDeps.from_settings(w.settings)
    async with running_workers(dev_env.client, w.settings, deps):
        await bootstrap.train_models(dev_env.client, w.settings, patients=2000, seed=5, run_date=RUN_DATE,
                                     say=lambda _line: None)
    yield w
    for server in servers:
        server.stop()


async def start(client, queues, run_date=RUN_DATE, **extra):
    inp = PatientRiskInput.model_validate({"run_date": run_date.isoformat(), **extra})
    return await client.start_workflow("PatientRiskPipeline", inp, id=f"patient-risk-{uuid.uuid4()}",
                                       task_queue=queues.pipelines, result_type=PatientRiskResult)


def care_rows(settings, run_date) -> int:
    engine = sa.create_engine(settings.resolved_care_database_url)
    with engine.connect() as conn:
        return conn.execute(sa.text("select count(*) from care_risk_score where run_date = :d"),
                            {"d": run_date}).scalar_one()


def fhir_total(settings, run_date) -> int:
    return httpx.get(f"{settings.fhir_url}/RiskAssessment", params={"date": run_date, "_count": 1}).json()["total"]


def high_risk_alerts(world, run_date) -> Counter:
    return Counter(a["patient_id"] for a in world.inbox.received
                   if a["kind"] == "high_risk_patient" and a["run_date"] == run_date)


async def test_a_run_writes_both_systems_once_and_alerts_once_even_when_repeated(dev_env, world):
    settings = world.variant()
    deps = ActivityDeps.from_settings(settings)
    day = RUN_DATE.isoformat()
    async with running_workers(dev_env.client, settings, deps) as queues:
        first = await (await start(dev_env.client, queues)).result()
        second = await (await start(dev_env.client, queues)).result()

    assert first.state == "completed" and first.patients == PATIENTS
    assert [s.number for s in first.steps] == list(range(1, 24))
    assert all(s.state == "completed" and s.attempts == 1 for s in first.steps)
    assert set(first.model_versions) == {"readmission-risk", "deterioration-risk", "acuity-risk"}
    assert sum(first.tiers.values()) == PATIENTS and 0 < first.tiers.get("high", 0) < PATIENTS / 2
    assert care_rows(settings, day) == PATIENTS and fhir_total(settings, day) == PATIENTS
    alerts = high_risk_alerts(world, day)
    assert len(alerts) == first.tiers["high"] and set(alerts.values()) == {1}
    assert first.alerts_sent == first.tiers["high"] and second.alerts_sent == 0
    assert second.tiers == first.tiers
    example = next(a for a in world.inbox.received if a["kind"] == "high_risk_patient")
    assert set(example) >= {"dedup_key", "severity", "patient_id", "scores", "run_url"}
    assert "age" not in example and "creatinine_last" not in example  # no raw clinical data leaves
    with session_scope(deps.engine) as session:
        assert len(runs.alerts_for(session, run_date=day, kind="high_risk_patient")) == first.tiers["high"]
