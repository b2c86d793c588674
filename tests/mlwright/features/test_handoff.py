"""An offline partition stands in for PatientRiskPipeline's computed features only when it is that table."""

from datetime import date

import pandas as pd

from mlwright.features import handoff, offline, pipeline
from mlwright.features.compute import compute_features_fast
from mlwright.patient_risk.features import FEATURE_NAMES
from mlwright.patient_risk.synthetic import generate

DAY = date(2026, 3, 1)


def _computed(patients: int = 400) -> tuple[pd.DataFrame, pd.DataFrame]:
    pop = generate(patients, seed=3, run_date=DAY)
    return pop.patients, compute_features_fast(pop.patients, pop.encounters, pop.diagnoses, pop.labs, pop.claims,
                                               pop.fills, DAY)


def test_the_partition_reads_back_as_the_computed_table_same_order_columns_and_dtypes(tmp_path):
    patients, table = _computed()
    shuffled = pipeline.with_keys(table, DAY).sample(frac=1, random_state=1)  # the store keeps no row order
    offline.write(tmp_path, "patient_risk", DAY, shuffled.assign(extra_feature=1.0))
    got, why = handoff.patient_features(tmp_path, "patient_risk", DAY, patients["patient_id"])
    assert why == "ok"
    pd.testing.assert_frame_equal(got, table, check_exact=True)  # dtypes, column order, index order
    assert list(got.columns) == list(FEATURE_NAMES) and len(FEATURE_NAMES) == 47
    assert got.reset_index().equals(table.reset_index())


def test_a_partition_of_other_patients_or_features_is_not_used(tmp_path):
    patients, table = _computed()
    assert handoff.patient_features(tmp_path, "patient_risk", DAY, patients["patient_id"]) == (
        None, f"no partition patient_risk/{DAY}")
    offline.write(tmp_path, "patient_risk", DAY, pipeline.with_keys(table.iloc[:-1], DAY))
    got, why = handoff.patient_features(tmp_path, "patient_risk", DAY, patients["patient_id"])
    assert got is None and "399 entities, the run 400 patients" in why
    offline.write(tmp_path, "patient_risk", DAY, pipeline.with_keys(table.drop(columns=["age"]), DAY))
    got, why = handoff.patient_features(tmp_path, "patient_risk", DAY, patients["patient_id"])
    assert got is None and "lacks 1 catalog features" in why
