"""A feature-set run end to end on synthetic sources: stores filled once, drift found when injected."""

from datetime import date

from mlwright.features import offline, pipeline, stats
from mlwright.features.compute import compute_features_fast
from mlwright.features.online import SqliteOnlineStore
from mlwright.ml.drift import Level
from mlwright.patient_risk.synthetic import generate
from mlwright.store.db import init_db, open_store, session_scope

TABLES = ("patients", "encounters", "diagnoses", "labs", "claims", "fills")


def _features(seed, day, age_shift=0):
    pop = generate(3000, seed=seed, run_date=day)
    patients = pop.patients.assign(age=pop.patients["age"] + age_shift)
    return compute_features_fast(patients, *(getattr(pop, t) for t in TABLES[1:]), day)


def test_run_twice_then_drift(tmp_path):
    engine = open_store(f"sqlite:///{tmp_path / 's.db'}")
    init_db(engine)
    online = SqliteOnlineStore(f"sqlite:///{tmp_path / 'online.db'}")
    d1, d2 = date(2026, 2, 1), date(2026, 3, 1)
    kw = dict(root=tmp_path / "fs", online=online, engine=engine, feature_set="patient_risk")
    first = _features(1, d1)
    for _ in range(2):  # the retried step
        pipeline.store(first, **kw, run_date=d1, run_key="run-1")
    assert len(offline.read(tmp_path / "fs", "patient_risk")) == 3000
    assert online.count("patient_risk") == 3000
    with session_scope(engine) as s:
        assert len(stats.load(s, feature_set="patient_risk", run_key="run-1")) == 47

    pipeline.store(_features(2, d2, age_shift=8), **kw, run_date=d2, run_key="run-2")
    result = pipeline.drift(root=tmp_path / "fs", feature_set="patient_risk", run_date=d2, reference_date=d1,
                            report_dir=tmp_path / "report")
    assert result.feature("age").level == Level.critical
    assert (tmp_path / "report" / "drift.html").exists()
    # Features not shifted stay quiet: an independent population of the same generator.
    quiet = [f.feature for f in result.features if f.level == Level.none]
    assert "has_diabetes" in quiet and len(quiet) >= 40
