"""The vectorised feature computation equals the reference definitions."""

import gc
import weakref
from datetime import date

import numpy as np
import pandas as pd
import pytest
from temporalio import activity
from temporalio.exceptions import CancelledError
from temporalio.testing import ActivityEnvironment

from mlwright.features.compute import (
    COLUMNS,
    compute_features_fast,
    compute_features_one_table_at_a_time,
    table_loader,
)
from mlwright.patient_risk.features import FEATURE_NAMES, compute_features
from mlwright.patient_risk.synthetic import generate
from mlwright.store.artifacts import ArtifactStore


def source_tables(pop) -> dict[str, pd.DataFrame]:
    """The population's tables under the names of ``COLUMNS``, in its order."""
    return {"patients": pop.patients, "encounters": pop.encounters, "diagnoses": pop.diagnoses,
            "labs": pop.labs, "claims": pop.claims, "fills": pop.fills}


def test_fast_features_equal_reference_definitions():
    run_date = date(2026, 3, 1)
    pop = generate(3000, seed=7, run_date=run_date)
    # Same-day duplicates make "last" ambiguous in the reference (unstable sort); keep one per day.
    labs = pop.labs.drop_duplicates(["patient_id", "test", "collected_date"], keep="last")
    args = (pop.patients, pop.encounters, pop.diagnoses, labs, pop.claims, pop.fills, run_date)
    expected, got = compute_features(*args), compute_features_fast(*args)
    assert list(got.columns) == list(FEATURE_NAMES)
    assert got.index.equals(expected.index)
    pd.testing.assert_frame_equal(got.astype(float), expected.astype(float), rtol=1e-9, atol=0.011)
    # Not vacuous: nulls and non-trivial counts are present.
    assert got["creatinine_last"].isna().any() and got["enc_count_365d"].max() > 1


def test_rows_of_unknown_patients_are_ignored():
    run_date = date(2026, 3, 1)
    pop = generate(200, seed=8, run_date=run_date)
    stray = pop.claims.head(5).assign(patient_id="P9999999")
    args = (pop.patients, pop.encounters, pop.diagnoses, pop.labs, pop.fills)
    a = compute_features_fast(*args[:4], pop.claims, args[4], run_date)
    b = compute_features_fast(*args[:4], pd.concat([pop.claims, stray]), args[4], run_date)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy(), strict=False)


def test_dates_as_python_objects_or_datetimes_give_the_same_features():
    run_date = date(2026, 3, 1)
    pop = generate(300, seed=9, run_date=run_date)
    as_objects = pop.encounters.assign(admit_date=pd.to_datetime(pop.encounters["admit_date"]).dt.date.astype(object))
    a = compute_features_fast(pop.patients, pop.encounters, pop.diagnoses, pop.labs, pop.claims, pop.fills, run_date)
    b = compute_features_fast(pop.patients, as_objects, pop.diagnoses, pop.labs, pop.claims, pop.fills, run_date)
    pd.testing.assert_frame_equal(a, b)


def test_tables_are_loaded_one_at_a_time_and_only_their_columns(tmp_path):
    """The step's peak memory at a million patients depends on it: a source table must be dropped
    before the next is loaded, and the stored tables' other columns never read."""
    run_date = date(2026, 3, 1)
    pop = generate(500, seed=11, run_date=run_date)
    tables = source_tables(pop)
    store = ArtifactStore(tmp_path)
    stored = table_loader(store, {name: store.put_frame(frame) for name, frame in tables.items()})
    loaded, alive = [], []

    def load(name: str) -> pd.DataFrame:
        gc.collect()
        alive.append([earlier for earlier, ref in loaded if ref() is not None])
        frame = stored(name)
        assert set(frame.columns) == set(COLUMNS[name])
        loaded.append((name, weakref.ref(frame)))
        return frame

    got = compute_features_one_table_at_a_time(load, run_date)
    assert [name for name, _ in loaded] == list(COLUMNS)
    assert alive == [[]] * len(COLUMNS), "a table was still held when the next one was loaded"
    pd.testing.assert_frame_equal(got, compute_features_fast(*tables.values(), run_date))


def test_a_cancelled_step_loads_no_further_table():
    run_date = date(2026, 3, 1)
    pop = generate(100, seed=12, run_date=run_date)
    tables = source_tables(pop)
    env, loaded = ActivityEnvironment(), []

    def load(name: str) -> pd.DataFrame:
        loaded.append(name)
        if name == "encounters":
            env.cancel()  # as a cancel request arriving while the encounters are read
        return tables[name][list(COLUMNS[name])]

    @activity.defn(no_thread_cancel_exception=True)  # so only the step's own check can stop it
    def features() -> None:
        compute_features_one_table_at_a_time(load, run_date)

    with pytest.raises(CancelledError, match="step stopped: cancelled"):
        env.run(features)
    assert loaded == ["patients", "encounters"]
