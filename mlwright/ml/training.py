"""Estimators and the preprocessing pipeline they are trained in."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, RidgeClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlwright.contracts.training import ESTIMATOR_TASKS
from mlwright.errors import InvalidInput
from mlwright.ml.redact import redact

_ESTIMATORS: dict[tuple[str, str], type[BaseEstimator]] = {
    ("logistic_regression", "classification"): LogisticRegression,
    ("random_forest", "classification"): RandomForestClassifier,
    ("random_forest", "regression"): RandomForestRegressor,
    ("gradient_boosting", "classification"): GradientBoostingClassifier,
    ("gradient_boosting", "regression"): GradientBoostingRegressor,
    ("linear_regression", "regression"): LinearRegression,
    ("ridge", "classification"): RidgeClassifier,
    ("ridge", "regression"): Ridge,
}
_DEFAULT_PARAMS: dict[str, dict[str, Any]] = {"logistic_regression": {"max_iter": 1000}}


def make_estimator(name: str, task: str, params: dict[str, Any], seed: int) -> BaseEstimator:
    cls = _ESTIMATORS.get((name, task))
    if cls is None:
        supported = sorted(ESTIMATOR_TASKS.get(name, ()))
        raise InvalidInput("estimator.name", f"{name!r} does not do {task} (it does: {supported or 'nothing'})")
    estimator = cls()
    accepted = estimator.get_params()
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InvalidInput("estimator.params", f"{name} has no parameter(s) {unknown}")
    chosen = {**_DEFAULT_PARAMS.get(name, {}), **params}
    if "random_state" in accepted and "random_state" not in params:
        chosen["random_state"] = seed
    try:
        return estimator.set_params(**chosen)
    except (TypeError, ValueError) as e:
        raise InvalidInput("estimator.params", str(e)) from e


def make_pipeline(estimator: BaseEstimator, numeric: list[str], categorical: list[str]) -> Pipeline:
    # Preprocessing is fitted inside the model pipeline, on training rows only, so no statistic of
    # the test rows leaks into training, and the stored artifact takes raw columns at serving time.
    preprocess = ColumnTransformer(
        [
            ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
             numeric),
            ("categorical", Pipeline([
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("onehot", OneHotEncoder(handle_unknown="ignore")),
            ]), categorical),
        ]
    )
    return Pipeline([("features", preprocess), ("model", estimator)])


def fit(
    pipeline: Pipeline, frame: pd.DataFrame, target: str, on_progress: Callable[[str], None] | None = None
) -> Pipeline:
    report = on_progress or (lambda _phase: None)
    report("preprocess")
    X, y = frame.drop(columns=[target]), frame[target]
    try:
        report("fit")
        pipeline.fit(X, y)
    except ValueError as e:
        # scikit-learn reports bad parameter values only at fit time; its data errors quote cell values.
        raise InvalidInput("estimator.params", redact(str(e))) from e
    report("done")
    return pipeline


def serialize(model: Pipeline) -> bytes:
    return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)


def deserialize(data: bytes) -> Pipeline:
    # Only ever called on bytes whose sha256 matched the registry's record (ArtifactStore.get_bytes).
    return pickle.loads(data)  # noqa: S301


def public_params(model: Pipeline) -> dict[str, str | int | float | bool | None]:
    params = model.named_steps["model"].get_params()
    return {k: v if isinstance(v, str | int | float | bool | type(None)) else repr(v) for k, v in params.items()}
