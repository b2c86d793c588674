"""Per-feature statistics of one run, computed column-wise on numpy and kept in the store.

Numeric: count, nulls, mean, std, min/max, quantiles and a 10-bin histogram; other dtypes:
category counts. One sort per numeric column serves quantiles, min and max.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from mlwright.store.tables import FeatureRunStats

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
_BINS = 10
_MAX_CATEGORIES = 50


class FeatureSummary(BaseModel):
    feature: str
    kind: str
    count: int
    nulls: int
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: dict[str, float] = Field(default_factory=dict)
    histogram_edges: list[float] = Field(default_factory=list)
    histogram_counts: list[int] = Field(default_factory=list)
    category_counts: dict[str, int] = Field(default_factory=dict)


def _numeric(name: str, values: np.ndarray) -> FeatureSummary:
    present = np.sort(values[~np.isnan(values)])
    out = FeatureSummary(feature=name, kind="numeric", count=len(present), nulls=len(values) - len(present))
    if len(present):
        out.mean, out.std = float(present.mean()), float(present.std())
        out.min, out.max = float(present[0]), float(present[-1])
        # On sorted data "linear" quantiles are an index lookup; np.quantile would re-sort.
        pos = np.asarray(QUANTILES) * (len(present) - 1)
        lo, frac = np.floor(pos).astype(int), pos - np.floor(pos)
        hi = np.minimum(lo + 1, len(present) - 1)
        q = present[lo] + (present[hi] - present[lo]) * frac
        out.quantiles = {f"p{round(p * 100):02d}": float(v) for p, v in zip(QUANTILES, q, strict=True)}
        edges = np.linspace(out.min, out.max, _BINS + 1) if out.max > out.min else np.array([out.min, out.min + 1])
        idx = np.searchsorted(present, edges[1:-1], side="left")
        counts = np.diff(np.concatenate([[0], idx, [len(present)]]))
        out.histogram_edges, out.histogram_counts = edges.tolist(), counts.astype(int).tolist()
    return out


def _categorical(name: str, values: pd.Series) -> FeatureSummary:
    counts = values.dropna().astype(str).value_counts()
    top = counts.head(_MAX_CATEGORIES)
    category_counts = {str(k): int(v) for k, v in top.items()}
    if len(counts) > _MAX_CATEGORIES:
        category_counts["__other__"] = int(counts.iloc[_MAX_CATEGORIES:].sum())
    return FeatureSummary(feature=name, kind="categorical", count=int(counts.sum()),
                          nulls=int(values.isna().sum()), category_counts=category_counts)


def summarize(frame: pd.DataFrame) -> list[FeatureSummary]:
    out = []
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            out.append(_numeric(str(name), col.to_numpy(float)))
        else:
            out.append(_categorical(str(name), col))
    return out


def save(session: Session, *, feature_set: str, run_key: str, run_date: str,
         summaries: list[FeatureSummary]) -> int:
    """Insert the run's rows once; a retried step finds them and adds nothing. Returns rows added."""
    have = set(session.exec(select(FeatureRunStats.feature).where(
        FeatureRunStats.feature_set == feature_set, FeatureRunStats.run_key == run_key)).all())
    added = [FeatureRunStats(feature_set=feature_set, run_key=run_key, run_date=run_date,
                             feature=s.feature, stats=s.model_dump()) for s in summaries if s.feature not in have]
    session.add_all(added)
    return len(added)


def load(session: Session, *, feature_set: str, run_key: str) -> list[FeatureSummary]:
    rows = session.exec(select(FeatureRunStats).where(
        FeatureRunStats.feature_set == feature_set, FeatureRunStats.run_key == run_key)
        .order_by(FeatureRunStats.id)).all()
    return [FeatureSummary.model_validate(r.stats) for r in rows]
