"""Estimators and the preprocessing pipeline they are trained in."""

from __future__ import annotations

import functools
import pickle
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlwright.contracts.training import ESTIMATOR_TASKS
from mlwright.errors import InvalidInput
from mlwright.ml.redact import redact

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.base import BaseEstimator
    from sklearn.pipeline import Pipeline

# scikit-learn (and pandas) are imported by the first check, fit or model load, not with the module:
# the cpu and training workers import it at start and would otherwise hold them while idle (issue 10).


@functools.cache
def _estimators() -> dict[tuple[str, str], type[BaseEstimator]]:
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, RidgeClassifier

    return {
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
_NAMED_PARAM = re.compile(r"^The '(\w+)' parameter of ")


def check_params(name: str, task: str | None, params: dict[str, Any],
                 caps: dict[str, tuple[int, str]]) -> None:
    """Refuse, naming the parameter, what the deployment's ``caps`` (param -> limit, setting) or
    scikit-learn's constraints refuse.

    scikit-learn publishes each estimator's constraints (``_parameter_constraints``) but checks
    them only at fit time; checking them here lets a run fail before any data moves. Without a
    task (it is inferred later), the parameters must suit one of the estimator's tasks.
    """
    from sklearn.utils._param_validation import InvalidParameterError

    for key, (cap, setting) in caps.items():
        value = params.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > cap:
            raise InvalidInput(f"estimator.params.{key}",
                               f"{value} exceeds this deployment's limit of {cap} ({setting})")
    problems: list[InvalidInput] = []
    for candidate in [task] if task else sorted(ESTIMATOR_TASKS[name]):
        try:
            make_estimator(name, candidate, params, seed=0)._validate_params()
            return
        except InvalidParameterError as e:
            named = _NAMED_PARAM.match(str(e))
            field = f"estimator.params.{named[1]}" if named else "estimator.params"
            problems.append(InvalidInput(field, str(e)))
        except InvalidInput as e:
            problems.append(e)
    raise problems[0]


def check_target(target: pd.Series, column: str, task: str) -> None:
    """A regression needs a numeric target; say so, naming the task and the column, not a cell value."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    if task == "regression" and not (is_numeric_dtype(target) and not is_bool_dtype(target)):
        raise InvalidInput("task", f"regression needs a numeric target, but column {column!r} holds "
                           f"{target.dtype} values; use task: classification or another dataset.target")


def make_estimator(name: str, task: str, params: dict[str, Any], seed: int) -> BaseEstimator:
    cls = _estimators().get((name, task))
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
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

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
