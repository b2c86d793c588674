"""Metrics, and how two models compare on one of them."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlwright.contracts.training import METRIC_DIRECTIONS

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


def evaluate(model: Pipeline, frame: pd.DataFrame, target: str, task: str) -> dict[str, float]:
    # Imported here, not at the top: the cpu worker stays free of scikit-learn until it evaluates.
    from sklearn import metrics as skm

    X, y = frame.drop(columns=[target]), frame[target]
    predicted = model.predict(X)
    if task == "regression":
        return {
            "r2": float(skm.r2_score(y, predicted)),
            "rmse": float(math.sqrt(skm.mean_squared_error(y, predicted))),
            "mae": float(skm.mean_absolute_error(y, predicted)),
        }
    out = {
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "f1": float(skm.f1_score(y, predicted, average="macro")),
        "precision": float(skm.precision_score(y, predicted, average="macro", zero_division=0)),
        "recall": float(skm.recall_score(y, predicted, average="macro", zero_division=0)),
    }
    out.update(_ranking_metrics(model, X, y))
    return out


def _ranking_metrics(model: Pipeline, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    from sklearn import metrics as skm

    classes = list(model.classes_)
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)
        out = {"log_loss": float(skm.log_loss(y, proba, labels=classes))}
        if len(set(y)) < 2:
            return out
        if len(classes) == 2:
            out["roc_auc"] = float(skm.roc_auc_score(y, proba[:, 1]))
        else:
            out["roc_auc"] = float(skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes))
        return out
    if len(classes) == 2 and len(set(y)) == 2:
        # Margin-only models (ridge classifier) still rank; roc_auc needs only an order.
        return {"roc_auc": float(skm.roc_auc_score(y, model.decision_function(X)))}
    return {}


def improvement(candidate: float, incumbent: float, metric: str, task: str) -> float:
    """Candidate minus incumbent, with the sign turned so that > 0 always means better."""
    return (candidate - incumbent) * METRIC_DIRECTIONS[task][metric]


def prediction_checks(model: Pipeline, frame: pd.DataFrame, target: str, task: str) -> dict[str, tuple[bool, str]]:
    """What a caller of the deployed model relies on, checked on real rows."""
    X = frame.drop(columns=[target])
    predicted = np.asarray(model.predict(X))
    checks = {"one_prediction_per_row": (len(predicted) == len(X), f"{len(predicted)} for {len(X)} rows")}
    if task == "regression":
        finite = bool(np.isfinite(predicted.astype(float)).all())
        checks["predictions_finite"] = (finite, "no NaN or inf" if finite else "NaN or inf predicted")
        return checks
    unknown = set(predicted.tolist()) - set(model.classes_.tolist())
    checks["labels_known"] = (not unknown, f"{len(unknown)} unknown labels" if unknown else "all known")
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)
        valid = bool(((proba >= 0) & (proba <= 1)).all() and np.allclose(proba.sum(axis=1), 1.0))
        checks["probabilities_valid"] = (valid, "in [0, 1], rows sum to 1" if valid else "out of range")
    return checks
