"""TrainingPipeline on the real dev server with the real activities (SQLite, scikit-learn)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pandas as pd
import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from mlwright.contracts.training import ApprovalDecision, TrainingInput, TrainingResult, TrainingStatus
from mlwright.store import registry
from mlwright.store.db import session_scope
from tests.conftest import running_workers
from tests.workflows.waiting import wait_for_status


def training_input(path, **overrides) -> TrainingInput:
    base = {
        "model_name": "bc",
        "dataset": {"uri": str(path), "target": "target"},
        "estimator": {"name": "logistic_regression"},
        "promotion": {"canary_duration": "1s"},
    }
    return TrainingInput.model_validate({**base, **overrides})


async def start(client, queues, inp):
    return await client.start_workflow("TrainingPipeline", inp, id=f"training-{uuid.uuid4()}",
                                       task_queue=queues.pipelines, result_type=TrainingResult)


async def test_first_model_is_promoted_after_approval(dev_env, settings, deps, breast_cancer_csv):
    async with running_workers(dev_env.client, settings, deps) as queues:
        handle = await start(dev_env.client, queues, training_input(breast_cancer_csv))
        status = await wait_for_status(handle, lambda s: s.awaiting_approval)
        assert status.candidate_version == 1 and status.production_version is None
        assert status.candidate_metrics["f1"] > 0.9  # a linear model separates this data well

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("approve", ApprovalDecision(approver=" "))
        assert refused.value.cause.message == "approver must not be empty"
        # A refusal is final for that request: not labelled as a transient fault to retry.
        assert refused.value.cause.non_retryable and refused.value.cause.type == "UpdateRefused"
        with pytest.raises(WorkflowUpdateFailedError) as no_input:
            await handle.execute_update("approve")
        assert no_input.value.cause.message.startswith('approve needs input: {"approver"')
        with pytest.raises(WorkflowUpdateFailedError) as misshapen:
            await handle.execute_update("approve", {"who": "eve"})
        assert misshapen.value.cause.message == (
            "invalid approve input: approver: Field required; who: Extra inputs are not permitted")
        assert misshapen.value.cause.non_retryable
        reply = await handle.execute_update("approve", ApprovalDecision(approver="alice", reason="metrics look right"),
                                            result_type=TrainingStatus)
        assert not reply.awaiting_approval  # the reply reflects the decision just made
        result = await handle.result()

    assert result.decision == "promoted" and result.version == 1 and result.decided_by == "alice"
    assert result.reason.startswith("approved (metrics look right); canary:")
    assert result.metric == "f1" and result.task == "classification"
    assert {"extract", "train", "await_approval", "evaluate_canary", "promote"} <= set(result.step_durations)
    with session_scope(deps.engine) as session:
        assert registry.version_in_stage(session, model_name="bc", stage="production").version == 1
        assert registry.stage_holder(session, model_name="bc", stage="canary") is None
        trail = [(t.stage, t.version, t.actor) for t in registry.transitions(session, model_name="bc")]
    assert trail == [("staging", 1, "TrainingPipeline"), ("canary", 1, "alice"), ("production", 1, "alice"),
                     ("canary", None, "TrainingPipeline")]


async def test_candidate_that_does_not_beat_production_is_not_registered(dev_env, settings, deps,
                                                                         breast_cancer_csv):
    async with running_workers(dev_env.client, settings, deps) as queues:
        first = await start(dev_env.client, queues, training_input(breast_cancer_csv))
        await wait_for_status(first, lambda s: s.awaiting_approval)
        await first.execute_update("approve", ApprovalDecision(approver="alice"))
        assert (await first.result()).decision == "promoted"

        # Same data, same estimator, same seed: an identical model cannot improve by min_improvement.
        second = await start(dev_env.client, queues, training_input(breast_cancer_csv))
        result = await second.result()

    assert result.decision == "not_improved" and result.version is None
    assert result.production_version == 1
    assert result.production_metrics["f1"] == pytest.approx(result.metrics["f1"])
    with session_scope(deps.engine) as session:
        assert [v.version for v in registry.list_versions(session, model_name="bc")] == [1]


async def test_rejected_candidate_is_archived(dev_env, settings, deps, breast_cancer_csv):
    async with running_workers(dev_env.client, settings, deps) as queues:
        handle = await start(dev_env.client, queues, training_input(breast_cancer_csv))
        await wait_for_status(handle, lambda s: s.awaiting_approval)
        await handle.execute_update("reject", ApprovalDecision(approver="bob", reason="not this quarter"))
        result = await handle.result()

    assert result.decision == "rejected" and result.decided_by == "bob"
    with session_scope(deps.engine) as session:
        assert registry.version_in_stage(session, model_name="bc", stage="production") is None
        assert registry.version_in_stage(session, model_name="bc", stage="staging") is None
        assert registry.transitions(session, model_name="bc")[-1].stage == "archived"


async def test_regression_on_parquet_infers_task(dev_env, settings, deps, diabetes_parquet):
    inp = training_input(diabetes_parquet, model_name="diab", estimator={"name": "ridge"})
    async with running_workers(dev_env.client, settings, deps) as queues:
        handle = await start(dev_env.client, queues, inp)
        status = await wait_for_status(handle, lambda s: s.awaiting_approval)
        await handle.execute_update("approve", ApprovalDecision(approver="carol"))
        result = await handle.result()
    assert status.metric == "r2"
    assert result.task == "regression" and result.decision == "promoted"
    assert 0.3 < result.metrics["r2"] < 0.7  # ridge on diabetes explains about half the variance


@pytest.mark.parametrize(
    ("overrides", "error_type", "fragment"),
    [
        ({"dataset": {"uri": "/nonexistent/x.csv", "target": "target"}}, "InvalidInput", "outside the data roots"),
        ({"dataset": {"uri": "BC", "target": "nope"}}, "InvalidInput", "dataset.target: column 'nope'"),
        ({"estimator": {"name": "logistic_regression", "params": {"bogus": 1}}}, "InvalidInput",
         "estimator.params"),
        ({"quality": {"min_rows": 10_000}}, "DataQualityFailed", "'min_rows' failed"),
        ({"estimator": {"name": "linear_regression"}}, "InvalidInput", "does not support task 'classification'"),
    ],
)
async def test_bad_step_input_fails_fast_and_names_the_problem(dev_env, settings, deps, breast_cancer_csv,
                                                              overrides, error_type, fragment):
    if overrides.get("dataset", {}).get("uri") == "BC":
        overrides = {"dataset": {"uri": str(breast_cancer_csv), "target": "nope"}}
    async with running_workers(dev_env.client, settings, deps) as queues:
        handle = await start(dev_env.client, queues, training_input(breast_cancer_csv, **overrides))
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    cause = caught.value.cause
    while not isinstance(cause, ApplicationError) and cause.__cause__ is not None:
        cause = cause.__cause__
    assert isinstance(cause, ApplicationError) and cause.type == error_type and cause.non_retryable
    assert fragment in cause.message


def activities_scheduled(history) -> list[str]:
    return [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"n_estimators": 20000},
         "estimator.params.n_estimators: 20000 exceeds this deployment's limit of 1000"),
        ({"n_estimators": 0}, "estimator.params.n_estimators: The 'n_estimators' parameter of RandomForest"),
        ({"max_depth": "deep"}, "estimator.params.max_depth: The 'max_depth' parameter"),
    ],
)
async def test_costly_or_invalid_estimator_params_fail_before_any_data_moves(
        dev_env, settings, deps, breast_cancer_csv, params, fragment):
    inp = training_input(breast_cancer_csv, estimator={"name": "random_forest", "params": params})
    async with running_workers(dev_env.client, settings, deps) as queues:
        handle = await start(dev_env.client, queues, inp)
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
        history = await handle.fetch_history()
    cause = caught.value.cause.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput" and cause.non_retryable
    assert cause.message.startswith(fragment)
    assert activities_scheduled(history) == ["check_training_input"]


async def test_more_rows_than_the_deployment_allows_fail_before_any_step_after_extract(
        dev_env, settings, deps, breast_cancer_csv):
    capped = settings.model_copy(update={"training_max_rows": 500})
    deps = dataclasses.replace(deps, settings=capped)
    async with running_workers(dev_env.client, capped, deps) as queues:
        handle = await start(dev_env.client, queues, training_input(breast_cancer_csv))
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
        history = await handle.fetch_history()
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput" and cause.non_retryable
    assert cause.message == ("dataset: 569 rows exceed this deployment's limit of 500 "
                             "(MLWRIGHT_TRAINING_MAX_ROWS); sample or filter the data")
    assert activities_scheduled(history) == ["check_training_input", "extract_dataset"]


async def test_the_train_step_timeout_follows_the_deployment_cap(dev_env, settings, deps, breast_cancer_csv):
    capped = settings.model_copy(update={"training_max_fit_s": 90})
    deps = dataclasses.replace(deps, settings=capped)
    async with running_workers(dev_env.client, capped, deps) as queues:
        handle = await start(dev_env.client, queues, training_input(breast_cancer_csv))
        await wait_for_status(handle, lambda s: s.awaiting_approval)
        await handle.terminate(reason="only the train step's timeout matters here")
        history = await handle.fetch_history()
    train = next(e.activity_task_scheduled_event_attributes for e in history.events
                 if e.HasField("activity_task_scheduled_event_attributes")
                 and e.activity_task_scheduled_event_attributes.activity_type.name == "train_model")
    assert train.start_to_close_timeout.ToTimedelta() == timedelta(seconds=90)


async def test_text_target_with_task_regression_is_blamed_on_the_task(
        dev_env, settings, deps, breast_cancer_csv):
    frame = pd.read_csv(breast_cancer_csv)
    frame["target"] = frame["target"].map({0: "malignant", 1: "benign"})
    path = breast_cancer_csv.with_name("labelled.csv")  # inside the data root, as runs require
    frame.to_csv(path, index=False)
    inp = training_input(path, task="regression", estimator={"name": "ridge"})
    async with running_workers(dev_env.client, settings, deps) as queues:
        handle = await start(dev_env.client, queues, inp)
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    cause = caught.value.cause.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput"
    assert cause.message.startswith("task: regression needs a numeric target, but column 'target' holds")
    assert "benign" not in cause.message and "estimator.params" not in cause.message
