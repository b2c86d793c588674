"""Performance of served predictions against the outcomes that have arrived."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score


def metric_name(task: str) -> str:
    return "roc_auc" if task == "classification" else "rmse"


def performance(task: str, joined: pd.DataFrame) -> dict[str, float]:
    """``joined`` has score, predicted and outcome per prediction whose outcome arrived."""
    if joined.empty:
        return {}
    if task == "regression":
        return {"rmse": float(np.sqrt(mean_squared_error(joined["outcome"], joined["score"])))}
    truth = joined["outcome"].astype(bool)
    out = {"accuracy": float(accuracy_score(truth, joined["predicted"]))}
    if truth.nunique() == 2:
        out["roc_auc"] = float(roc_auc_score(truth, joined["score"]))
    return out
