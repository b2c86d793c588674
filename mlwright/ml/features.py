"""Feature selection and typing, decided on the data and recorded with the model."""

from __future__ import annotations

import pandas as pd
from pandas.api import types

MAX_CLASSES = 20  # an integer target with more distinct values is treated as a quantity
MAX_CATEGORY_LEVELS = 50  # more levels than this one-hot encodes into noise; such columns are dropped


def infer_task(y: pd.Series) -> str:
    if types.is_bool_dtype(y) or not types.is_numeric_dtype(y):
        return "classification"
    values = y.dropna()
    integral = bool((values == values.round()).all()) if types.is_float_dtype(values) else True
    return "classification" if integral and values.nunique() <= MAX_CLASSES else "regression"


def select_features(frame: pd.DataFrame, target: str) -> tuple[list[str], list[str], dict[str, str]]:
    """Split columns into numeric and categorical features; say why any other column was dropped."""
    numeric: list[str] = []
    categorical: list[str] = []
    dropped: dict[str, str] = {}
    rows = len(frame)
    for column in frame.columns:
        if column == target:
            continue
        series = frame[column]
        distinct = series.nunique(dropna=True)
        if series.isna().all():
            dropped[column] = "all values are null"
        elif distinct <= 1:
            dropped[column] = "constant"
        elif distinct == rows and rows > MAX_CATEGORY_LEVELS and not types.is_float_dtype(series):
            dropped[column] = "unique per row (an identifier)"
        elif types.is_numeric_dtype(series) and not types.is_bool_dtype(series):
            numeric.append(column)
        elif distinct > MAX_CATEGORY_LEVELS:
            dropped[column] = f"{distinct} levels (more than {MAX_CATEGORY_LEVELS})"
        else:
            categorical.append(column)
    return numeric, categorical, dropped


def build_feature_frame(frame: pd.DataFrame, target: str, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """The modelling table: rows with a target, selected columns, categoricals as strings."""
    out = frame.loc[frame[target].notna(), [*numeric, *categorical, target]].copy()
    for column in categorical:
        out[column] = out[column].astype("string")
    return out.reset_index(drop=True)
