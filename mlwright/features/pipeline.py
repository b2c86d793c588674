"""One feature-set run as plain functions, in the order FeaturePipeline's steps will call them.

compute → offline write → online upsert → statistics → drift against a reference partition →
report. Each function is idempotent for a given (feature set, run date, run key), so the
activities that wrap them can be retried freely.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from mlwright.features import offline, report, stats
from mlwright.features.online import OnlineStore
from mlwright.ml.drift import DriftResult, DriftThresholds, compare
from mlwright.store.db import session_scope


def with_keys(features: pd.DataFrame, run_date: date) -> pd.DataFrame:
    """The offline/online row shape: entity_id, event_time (end of the run date, UTC), features."""
    frame = features.reset_index().rename(columns={features.index.name or "index": "entity_id"})
    frame.insert(1, "event_time", pd.Timestamp(run_date, tz="UTC"))
    return frame


def store(features: pd.DataFrame, *, root: Path, online: OnlineStore, engine: Engine, feature_set: str,
          run_date: date, run_key: str) -> list[stats.FeatureSummary]:
    keyed = with_keys(features, run_date)
    offline.write(root, feature_set, run_date, keyed)
    online.upsert(feature_set, keyed)
    summaries = stats.summarize(features)
    with session_scope(engine) as session:
        stats.save(session, feature_set=feature_set, run_key=run_key, run_date=run_date.isoformat(),
                   summaries=summaries)
    return summaries


def drift(*, root: Path, feature_set: str, run_date: date, reference_date: date,
          thresholds: DriftThresholds | None = None, report_dir: Path | None = None) -> DriftResult:
    """Drift of the run's partition against the reference partition (e.g. the production model's
    training date, or any chosen earlier run); writes the report when ``report_dir`` is given."""
    reference = offline.read(root, feature_set, start=reference_date, end=reference_date)
    if reference.empty:
        raise LookupError(f"reference partition {feature_set}/{reference_date} is empty or missing")
    return drift_against(reference, root=root, feature_set=feature_set, run_date=run_date,
                         label=str(reference_date), thresholds=thresholds, report_dir=report_dir)


def drift_against(reference: pd.DataFrame, *, root: Path, feature_set: str, run_date: date, label: str,
                  thresholds: DriftThresholds | None = None, report_dir: Path | None = None) -> DriftResult:
    """Drift of the run's partition against any reference table (a model's training data) of its features."""
    current = offline.read(root, feature_set, start=run_date, end=run_date)
    names = [c for c in reference.columns if c not in ("entity_id", "event_time", "date") and c in current.columns]
    result = compare(reference, current, thresholds, features=names)
    if report_dir is not None:
        report.write(report_dir, result, f"{feature_set} {run_date} vs {label}")
    return result
