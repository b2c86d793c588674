"""Which data a FeaturePipeline run measures drift against.

In order: the partition of ``reference_date`` when the run names one (a chosen run); else the
training data of the production version of the model the feature set serves, when the registry
has a production version and the artifact store still holds that data (the registry keeps it by
its sha256: TrainingPipeline records its training split's fingerprint, ``data_sha256``); else the
latest earlier partition; else none (the first run of a feature set measures no drift).

Why the training data first: drift matters because the model in production learned from other
data; yesterday's partition only says what changed since yesterday, and a slow shift never
crosses a threshold day over day.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlmodel import Session

from mlwright.contracts.patient_risk import ModelNames
from mlwright.contracts.refs import DatasetRef
from mlwright.store import registry
from mlwright.store.artifacts import ArtifactStore

# The model each feature set feeds first: its training table holds the feature set's columns.
SERVES = {"patient_risk": ModelNames().readmission}


@dataclass(frozen=True)
class TrainingReference:
    model_name: str
    version: int
    frame: pd.DataFrame

    @property
    def label(self) -> str:
        return f"{self.model_name} v{self.version} training data"


def production_training_data(session: Session, artifacts: ArtifactStore, *, feature_set: str,
                             model_name: str | None, features: list[str]) -> TrainingReference | None:
    """The production model's training data as a frame of the feature set's columns it has, or None."""
    name = model_name or SERVES.get(feature_set)
    if name is None:
        return None
    version = registry.version_in_stage(session, model_name=name, stage="production")
    if version is None:
        return None
    ref = artifacts.find(version.data_sha256, ".parquet")
    if ref is None:
        return None
    table = artifacts.get_frame(DatasetRef(artifact=ref, rows=version.data_rows, columns=[]))
    # Only numeric columns: the training table casts categoricals to text, the partition keeps numbers.
    shared = [f for f in features if f in table.columns and pd.api.types.is_numeric_dtype(table[f])]
    if not shared:
        return None
    return TrainingReference(name, version.version, table[shared])
