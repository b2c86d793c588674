"""A FeaturePipeline partition as PatientRiskPipeline's feature table.

The partition is used only when it is the table the pipeline would compute: the same patients
(the merged EHR patients of the run), every one of the 47 catalog features. It is then reshaped
to exactly what ``compute_features`` returns (index ``patient_id`` in the patients' order,
columns in catalog order, the partition's dtypes, which are ``compute_features_fast``'s), so every
later step sees the same bytes either way.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from mlwright.features import offline
from mlwright.patient_risk.features import FEATURE_NAMES


def patient_features(root: Path, feature_set: str, run_date: date, patient_ids: pd.Series) -> tuple[
        pd.DataFrame | None, str]:
    """The partition's features for ``patient_ids``, or None and why it cannot stand in."""
    path = offline.partition_path(root, feature_set, run_date) / "part-0.parquet"
    if not path.exists():
        return None, f"no partition {feature_set}/{run_date}"
    frame = pd.read_parquet(path)
    missing = [f for f in FEATURE_NAMES if f not in frame.columns]
    if missing:
        return None, f"partition {feature_set}/{run_date} lacks {len(missing)} catalog features"
    ids = pd.Index(patient_ids, name="patient_id")
    stored = pd.Index(frame["entity_id"])
    if len(stored) != len(ids) or not stored.is_unique or not stored.isin(ids).all():
        return None, (f"partition {feature_set}/{run_date} has {len(stored)} entities, the run "
                      f"{len(ids)} patients (not the same set)")
    table = frame.set_index("entity_id")[list(FEATURE_NAMES)].reindex(ids)
    table.index.name = "patient_id"
    return table, "ok"
