"""Performance of served predictions against the outcomes that have arrived."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def metric_name(task: str) -> str:
    return "roc_auc" if task == "classification" else "rmse"


def performance(task: str, joined: pd.DataFrame) -> dict[str, float]:
    """``joined`` has score, predicted and outcome per prediction whose outcome arrived."""
    # Imported on first use: the io worker imports this module and otherwise never loads scikit-learn.
    from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score

    if joined.empty:
        return {}
    if task == "regression":
        return {"rmse": float(np.sqrt(mean_squared_error(joined["outcome"], joined["score"])))}
    truth = joined["outcome"].astype(bool)
    out = {"accuracy": float(accuracy_score(truth, joined["predicted"]))}
    if truth.nunique() == 2:
        out["roc_auc"] = float(roc_auc_score(truth, joined["score"]))
    return out
