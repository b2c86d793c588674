"""A served model scores a table in batches, with exactly the scores of one call on all rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from temporalio import activity
from temporalio.exceptions import CancelledError
from temporalio.testing import ActivityEnvironment

from mlwright import serving
from mlwright.errors import InvalidInput
from mlwright.ml import training
from mlwright.store.tables import ModelVersion


def staged(frame: pd.DataFrame) -> serving.StagedModel:
    numeric, categorical = ["a", "b"], ["kind"]
    pipeline = training.make_pipeline(training.make_estimator("logistic_regression", "classification", {}, seed=1),
                                      numeric, categorical)
    pipeline.fit(frame[numeric + categorical], frame["a"] + frame["b"] > 0)
    version = ModelVersion(model_name="m", version=1, task="classification", estimator="logistic_regression",
                           artifact_uri="file:///m", artifact_sha256="0" * 64, artifact_size=1, data_sha256="0" * 64,
                           data_rows=len(frame), source_run="w/r",
                           feature_schema={"numeric": numeric, "categorical": categorical})
    return serving.StagedModel(version=version, pipeline=pipeline)


def test_batches_give_the_scores_of_one_call(monkeypatch):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.normal(size=1000), "b": rng.normal(size=1000),
                          "kind": rng.choice(["x", "y", "z"], size=1000), "unused": 1.0})
    frame.loc[::17, "a"] = np.nan  # imputed with the training median, per row
    model = staged(frame)
    whole = model.pipeline.predict_proba(frame[model.inputs])[:, 1]
    monkeypatch.setattr(serving, "BATCH_ROWS", 64)  # 16 batches, the last one short
    np.testing.assert_array_equal(model.positive_probability(frame), whole)
    assert model.positive_probability(frame.iloc[:0]).shape == (0,)
    with pytest.raises(InvalidInput, match="needs \\['kind'\\]"):
        model.positive_probability(frame.drop(columns="kind"))


def test_a_cancelled_step_stops_scoring_at_the_next_batch(monkeypatch):
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300), "kind": "x"})
    model = staged(frame)
    monkeypatch.setattr(serving, "BATCH_ROWS", 64)
    env, batches = ActivityEnvironment(), []
    predict = model.pipeline.predict_proba

    def counted(rows):
        batches.append(len(rows))
        env.cancel()  # as a cancel request arriving while the first batch is scored
        return predict(rows)

    monkeypatch.setattr(model.pipeline, "predict_proba", counted)

    @activity.defn(no_thread_cancel_exception=True)  # so only the step's own check can stop it
    def score() -> None:
        model.positive_probability(frame)

    with pytest.raises(CancelledError, match="step stopped: cancelled"):
        env.run(score)
    assert batches == [64]
