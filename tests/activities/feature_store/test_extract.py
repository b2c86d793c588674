"""features_extract in an ActivityEnvironment: a window table the artifact store lost makes that
source a full read, never a failed step."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse

from temporalio.testing import ActivityEnvironment

from activities.deps import ActivityDeps
from activities.feature_store.compute import FeatureComputeActivities
from activities.feature_store.stores import FeatureStoreActivities
from activities.patient_risk.deps import PatientRiskDeps
from mlwright.contracts import feature_pipeline as c
from mlwright.patient_risk import bootstrap

DAY2 = date(2026, 11, 27)
DAY1 = DAY2 - timedelta(days=7)


def _run(day: date) -> c.FeatureRun:
    return c.FeatureRun(workflow_id=f"wf-{day}", run_id="r1", run_date=day.isoformat(), feature_set="patient_risk")


def test_a_lost_window_table_is_read_whole_and_the_others_incrementally(settings):
    bootstrap.seed_sources(settings, 200, seed=11, run_date=DAY2)
    deps = PatientRiskDeps.build(ActivityDeps.from_settings(settings), settings)
    extract, stores, env = FeatureComputeActivities(deps), FeatureStoreActivities(deps), ActivityEnvironment()
    first = env.run(extract.features_extract, c.FeatureStepInput(run=_run(DAY1)))
    moved = env.run(stores.features_advance_watermark, c.WatermarkInput(run=_run(DAY1), sources=first))
    assert sorted(moved.advanced) == ["claims", "ehr", "labs", "pharmacy"]
    Path(urlparse(first.tables["labs"].artifact.uri).path).unlink()  # e.g. a clean-up of old artifacts

    second = env.run(extract.features_extract, c.FeatureStepInput(run=_run(DAY2)))
    assert sorted(second.read_after) == ["claims", "ehr", "pharmacy"]  # labs: its window table is gone
    assert second.read["labs"] == second.rows["labs"]  # read whole, so its window is complete
    assert second.read["ehr"] < second.rows["encounters"]
