"""Pure ML functions on small real and constructed data."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from mlwright.contracts.dataset import DatasetSpec
from mlwright.contracts.training import QualitySpec
from mlwright.errors import DatasetNotFound, InvalidInput
from mlwright.ml import data, features, metrics, quality, training
from mlwright.ml.data_access import DataAccess


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


def test_tables_load_from_csv_parquet_and_sql(tmp_path, cancer):
    access = DataAccess(roots={"local": tmp_path}, connections={}, raw_uris=True)
    cancer.to_csv(tmp_path / "d.csv", index=False)
    cancer.to_parquet(tmp_path / "d.parquet")
    with sqlite3.connect(tmp_path / "d.db") as conn:
        cancer.to_sql("tumours", conn, index=False)
    query = "select * from tumours where target = 1"
    for where in [{"uri": str(tmp_path / "d.csv")}, {"uri": (tmp_path / "d.parquet").as_uri()},
                  {"uri": f"sqlite:///{tmp_path / 'd.db'}", "query": query},
                  {"source": "local", "path": "d.csv"}, {"source": "local", "path": "d.db", "query": query}]:
        frame = data.load_table(DatasetSpec(target="target", **where), access)
        assert list(frame.columns) == list(cancer.columns)
    assert len(frame) == int(cancer.target.sum())


def test_load_errors_name_the_field(tmp_path):
    access = DataAccess(roots={"local": tmp_path}, connections={}, raw_uris=True)
    with pytest.raises(DatasetNotFound, match="no file at"):
        data.load_table(DatasetSpec(uri=str(tmp_path / "none.csv"), target="y"), access)
    with pytest.raises(InvalidInput, match="dataset.uri: 'x.json' is neither"):
        data.load_table(DatasetSpec(uri=str(tmp_path / "x.json"), target="y"), access)
    sqlite3.connect(tmp_path / "e.db").close()
    with pytest.raises(InvalidInput, match="dataset.query: no such table"):
        data.load_table(DatasetSpec(source="local", path="e.db", query="select * from missing", target="y"), access)


def test_quality_gate_finds_the_failing_column(cancer):
    frame = cancer.copy()
    frame.loc[: len(frame) // 2, "mean radius"] = np.nan
    checks = quality.check_quality(frame, "target", None, QualitySpec(max_null_ratio=0.2))
    failed = quality.first_failure(checks)
    assert (failed.name, failed.column) == ("null_ratio", "mean radius")
    assert "failed on column 'mean radius'" in quality.describe(failed)


def test_quality_gate_checks_class_balance_and_constant_target():
    imbalanced = pd.DataFrame({"x": range(100), "y": [0] * 98 + [1] * 2})
    failed = quality.first_failure(quality.check_quality(imbalanced, "y", None, QualitySpec()))
    assert (failed.name, failed.value) == ("class_balance", 0.02)
    constant = pd.DataFrame({"x": range(100), "y": [1] * 100})
    assert quality.first_failure(quality.check_quality(constant, "y", None, QualitySpec())).name == \
        "target_not_constant"


@pytest.mark.parametrize(("values", "task"), [([0, 1, 1, 0], "classification"), (["a", "b"], "classification"),
                                              ([0.5, 1.7, 2.2, 3.9], "regression"),
                                              (list(range(100)), "regression")])
def test_task_is_inferred_from_the_target(values, task):
    assert features.infer_task(pd.Series(values)) == task


def test_feature_selection_drops_identifiers_constants_and_empty_columns():
    frame = pd.DataFrame({"id": range(200), "age": np.linspace(20, 80, 200), "city": ["a", "b"] * 100,
                          "const": 1, "empty": np.nan, "y": [0, 1] * 100})
    numeric, categorical, dropped = features.select_features(frame, "y")
    assert (numeric, categorical) == (["age"], ["city"])
    assert set(dropped) == {"id", "const", "empty"}


def test_models_train_and_score_and_survive_serialization(cancer):
    train, test = cancer.iloc[::2], cancer.iloc[1::2]
    numeric = [c for c in cancer.columns if c != "target"]
    for name in ["logistic_regression", "random_forest", "gradient_boosting", "ridge"]:
        est = training.make_estimator(name, "classification", {}, seed=1)
        model = training.fit(training.make_pipeline(est, numeric, []), train, "target")
        restored = training.deserialize(training.serialize(model))
        scores = metrics.evaluate(restored, test, "target", "classification")
        assert scores["accuracy"] > 0.9 and scores["roc_auc"] > 0.95, (name, scores)
        assert all(ok for ok, _ in metrics.prediction_checks(restored, test, "target", "classification").values())


def test_estimator_errors_name_the_parameter():
    with pytest.raises(InvalidInput, match=r"estimator.params: random_forest has no parameter\(s\) \['depth'\]"):
        training.make_estimator("random_forest", "classification", {"depth": 3}, seed=0)
    with pytest.raises(InvalidInput, match="estimator.name: 'linear_regression' does not do classification"):
        training.make_estimator("linear_regression", "classification", {}, seed=0)


def test_improvement_sign_means_better_for_every_direction():
    assert metrics.improvement(0.9, 0.8, "f1", "classification") == pytest.approx(0.1)
    assert metrics.improvement(1.0, 2.0, "rmse", "regression") == pytest.approx(1.0)
    assert metrics.improvement(0.3, 0.2, "log_loss", "classification") == pytest.approx(-0.1)
