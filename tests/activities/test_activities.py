"""Activities in ActivityEnvironment: heartbeats, error translation, idempotent writes."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta

import pandas as pd
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.datasets import DatasetActivities
from activities.evaluation import EvaluationActivities
from activities.features import FeatureActivities
from activities.registry import RegistryActivities
from activities.training import TrainingActivities
from mlwright.contracts import training_steps as c
from mlwright.contracts.training import DatasetSpec, EstimatorSpec, QualitySpec, SplitSpec
from mlwright.policies import StepPolicy
from mlwright.queues import Resource
from mlwright.steps import Step
from mlwright.store import registry
from mlwright.store.db import session_scope
from mlwright.store.reports import get_quality_report

RUN = c.RunKey(workflow_id="wf", run_id="r1")


@pytest.fixture
def env() -> ActivityEnvironment:
    return ActivityEnvironment()


@pytest.fixture
def prepared(env, deps, breast_cancer_csv):
    """Extracted, featurised and split breast-cancer data, through the real activities."""
    data = env.run(DatasetActivities(deps).extract_dataset,
                   c.ExtractInput(dataset=DatasetSpec(uri=str(breast_cancer_csv), target="target")))
    fs = env.run(FeatureActivities(deps).build_features, c.FeaturesInput(data=data, target="target", task=None))
    split = env.run(FeatureActivities(deps).split_dataset, c.SplitInput(features=fs, split=SplitSpec()))
    return data, fs, split


def test_extract_is_content_addressed_and_reads_sql(env, deps, breast_cancer_csv):
    extract = DatasetActivities(deps).extract_dataset
    spec = c.ExtractInput(dataset=DatasetSpec(uri=str(breast_cancer_csv), target="target"))
    first, again = env.run(extract, spec), env.run(extract, spec)
    assert first == again and first.rows == 569
    with sqlite3.connect(breast_cancer_csv.parent / "src.db") as conn:
        pd.read_csv(breast_cancer_csv).to_sql("t", conn, index=False)
    from_sql = env.run(extract, c.ExtractInput(dataset=DatasetSpec(
        source="local", path="src.db", target="target", query="select * from t")))
    assert from_sql.rows == 569 and from_sql.columns == first.columns


def test_extract_outside_the_data_roots_is_refused_naming_the_field(env, deps, settings):
    with pytest.raises(ApplicationError) as caught:
        env.run(DatasetActivities(deps).extract_dataset,
                c.ExtractInput(dataset=DatasetSpec(uri=settings.resolved_database_url, target="t",
                                                   query="select * from modelversion")))
    assert caught.value.type == "InvalidInput" and caught.value.non_retryable
    assert caught.value.message.startswith("dataset.uri: ") and "outside the data roots" in caught.value.message


def test_missing_target_column_is_non_retryable_and_named(env, deps, breast_cancer_csv):
    with pytest.raises(ApplicationError) as caught:
        env.run(DatasetActivities(deps).extract_dataset,
                c.ExtractInput(dataset=DatasetSpec(uri=str(breast_cancer_csv), target="diagnosis")))
    assert caught.value.type == "InvalidInput" and caught.value.non_retryable
    assert caught.value.message.startswith("dataset.target: column 'diagnosis' is not in the dataset")


def test_failed_quality_gate_keeps_one_report(env, deps, prepared):
    data, _, _ = prepared
    validate = DatasetActivities(deps).validate_data_quality
    inp = c.QualityInput(run=RUN, data=data, target="target", task=None,
                         quality=QualitySpec(required_columns=["patient_age"]))
    for _ in range(2):  # a retry must not add a second report
        with pytest.raises(ApplicationError) as caught:
            env.run(validate, inp)
    assert caught.value.type == "DataQualityFailed" and caught.value.non_retryable
    assert caught.value.details[0]["column"] == "patient_age"
    with session_scope(deps.engine) as session:
        report = get_quality_report(session, run_key=RUN.key("validate_data_quality"))
    assert report.passed is False
    assert any(ch["name"] == "column_present" and not ch["passed"] for ch in report.report["checks"])


def test_training_heartbeats_its_phases(env, deps, prepared):
    _, fs, split = prepared
    beats: list = []
    env.on_heartbeat = lambda *details: beats.append(details[0])
    trained = env.run(TrainingActivities(deps).train_model, c.TrainInput(
        features=fs, train=split.train, estimator=EstimatorSpec(name="gradient_boosting"), seed=3))
    phases = [b["phase"] for b in beats]
    assert ["load", "preprocess", "fit", "done", "store"] == list(dict.fromkeys(phases))
    assert all(b["step"] == "train_model" and b["elapsed_s"] >= 0 for b in beats)
    assert trained.params["random_state"] == 3 and trained.artifact.size_bytes > 0


def test_register_and_stage_writes_are_idempotent(env, deps, prepared):
    data, fs, split = prepared
    trained = env.run(TrainingActivities(deps).train_model, c.TrainInput(
        features=fs, train=split.train, estimator=EstimatorSpec(name="ridge"), seed=0))
    scores = env.run(EvaluationActivities(deps).evaluate_model, c.EvaluateInput(
        model=trained.artifact, test=split.test, target="target", task=fs.task))
    reg = RegistryActivities(deps)
    inp = c.RegisterInput(run=RUN, model_name="bc", task=fs.task, estimator=EstimatorSpec(name="ridge"),
                          model=trained, metrics=scores, training_data=split.train, features=fs)
    assert env.run(reg.register_model_version, inp) == env.run(reg.register_model_version, inp)
    change = c.StageChange(run=RUN, step="deploy_staging", model_name="bc", version=1, stage="staging", actor="t")
    env.run(reg.set_model_stage, change)
    env.run(reg.set_model_stage, change)
    with session_scope(deps.engine) as session:
        assert len(registry.list_versions(session, model_name="bc")) == 1
        assert len(registry.transitions(session, model_name="bc")) == 1

    report = env.run(EvaluationActivities(deps).run_integration_tests, c.IntegrationInput(
        model_name="bc", stage="staging", expected_version=1, test=split.test, target="target", task=fs.task,
        expected_metrics=scores))
    assert report.passed, report.checks
    wrong = env.run(EvaluationActivities(deps).run_integration_tests, c.IntegrationInput(
        model_name="bc", stage="staging", expected_version=2, test=split.test, target="target", task=fs.task,
        expected_metrics=scores))
    assert not wrong.passed and wrong.checks[0].name == "stage_resolves"


SLOW = Step("slow_step", "Slow", c.ExtractInput, c.Metrics, Resource.IO,
            StepPolicy(start_to_close=timedelta(seconds=10), heartbeat=timedelta(seconds=0.06)))


BUSY_LONG_ENOUGH = threading.Event()


@SLOW.defn
def slow_step(inp: c.ExtractInput) -> c.Metrics:
    # A long blocking call that cannot heartbeat itself; it ends once the test has seen enough
    # automatic heartbeats (bounded, so a step that never heartbeats fails the test, not hangs it).
    BUSY_LONG_ENOUGH.wait(timeout=10)
    return c.Metrics(values={})


def test_every_step_with_a_heartbeat_timeout_heartbeats_while_busy(env):
    beats: list = []

    def on_heartbeat(*details) -> None:
        beats.append(details[0])
        if len(beats) >= 4 and beats[-1]["elapsed_s"] >= 0.1:
            BUSY_LONG_ENOUGH.set()

    BUSY_LONG_ENOUGH.clear()
    env.on_heartbeat = on_heartbeat
    env.run(slow_step, c.ExtractInput(dataset=DatasetSpec(uri="x.csv", target="y")))
    assert BUSY_LONG_ENOUGH.is_set(), f"only {len(beats)} heartbeats in 10 s"
    assert {b["phase"] for b in beats} == {"start"}
