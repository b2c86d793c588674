"""Estimator parameter checks at start: the deployment's caps and scikit-learn's published constraints."""

from __future__ import annotations

import pandas as pd
import pytest

from mlwright.contracts.training import ESTIMATOR_TASKS
from mlwright.errors import InvalidInput
from mlwright.ml import training

CAPS = {"n_estimators": (1000, "MLWRIGHT_TRAINING_MAX_ESTIMATORS"),
        "max_iter": (5000, "MLWRIGHT_TRAINING_MAX_ITERATIONS")}


@pytest.mark.parametrize(
    ("name", "task", "params", "field", "fragment"),
    [
        ("random_forest", None, {"n_estimators": 20000}, "estimator.params.n_estimators",
         "20000 exceeds this deployment's limit of 1000 (MLWRIGHT_TRAINING_MAX_ESTIMATORS)"),
        ("logistic_regression", None, {"max_iter": 10**6}, "estimator.params.max_iter", "limit of 5000"),
        ("random_forest", None, {"n_estimators": 0}, "estimator.params.n_estimators",
         "in the range [1, inf)"),
        ("gradient_boosting", "regression", {"learning_rate": -1.0}, "estimator.params.learning_rate",
         "in the range [0.0, inf)"),
        ("random_forest", "regression", {"criterion": "gini"}, "estimator.params.criterion", "'gini'"),
        ("ridge", None, {"alpha": "lots"}, "estimator.params.alpha", "Got 'lots' instead"),
        ("logistic_regression", None, {"bogus": 1}, "estimator.params", "no parameter(s) ['bogus']"),
    ],
)
def test_bad_parameters_are_refused_naming_the_parameter(name, task, params, field, fragment):
    with pytest.raises(InvalidInput) as caught:
        training.check_params(name, task, params, CAPS)
    assert caught.value.details["field"] == field and fragment in caught.value.message


def test_parameters_need_only_suit_one_task_while_the_task_is_unknown():
    training.check_params("random_forest", None, {"criterion": "gini", "n_estimators": 1000}, CAPS)
    training.check_params("random_forest", None, {"criterion": "squared_error"}, CAPS)


def test_every_supported_estimator_publishes_constraints_for_the_check():
    # If scikit-learn ever dropped _parameter_constraints, check_params would silently pass everything.
    for name, tasks in ESTIMATOR_TASKS.items():
        for task in tasks:
            estimator = training.make_estimator(name, task, {}, seed=0)
            assert set(estimator.get_params()) <= set(type(estimator)._parameter_constraints), (name, task)


def test_a_regression_target_must_be_numeric_and_the_message_holds_no_value():
    target = pd.Series(["benign-P0000042", "malignant"] * 5, name="diagnosis")
    with pytest.raises(InvalidInput) as caught:
        training.check_target(target, "diagnosis", "regression")
    assert caught.value.message.startswith("task: regression needs a numeric target")
    assert "'diagnosis'" in caught.value.message and "P0000042" not in caught.value.message
    training.check_target(target, "diagnosis", "classification")
    training.check_target(pd.Series([1.5, 2.0]), "y", "regression")
