"""Loading registered models the way a serving process does: through a stage, hash-checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from mlwright.contracts.refs import ArtifactRef
from mlwright.errors import InvalidInput
from mlwright.heartbeat import check_cancelled
from mlwright.ml import training
from mlwright.store import registry
from mlwright.store.artifacts import ArtifactStore
from mlwright.store.db import session_scope
from mlwright.store.tables import ModelVersion

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline  # unpickling a model imports scikit-learn when one is loaded

BATCH_ROWS = 100_000


@dataclass(frozen=True)
class StagedModel:
    version: ModelVersion
    pipeline: Pipeline

    @property
    def inputs(self) -> list[str]:
        """The columns the model was trained on, as recorded in the registry."""
        return self.version.feature_schema["numeric"] + self.version.feature_schema["categorical"]

    def positive_probability(self, table: pd.DataFrame) -> np.ndarray:
        """Scored ``BATCH_ROWS`` rows at a time: each row's score depends on that row alone, and the
        pipeline's copies (column selection, imputation, scaling) of a million patients' 47
        features were ~1 GB at once, the cpu worker's peak."""
        missing = [column for column in self.inputs if column not in table.columns]
        if missing:
            raise InvalidInput("models", f"{self.version.model_name} v{self.version.version} needs {missing}")
        parts = []
        for start in range(0, len(table), BATCH_ROWS):
            check_cancelled()
            parts.append(self.pipeline.predict_proba(table.iloc[start:start + BATCH_ROWS][self.inputs])[:, 1])
        return np.concatenate(parts) if parts else np.empty(0)


def load_artifact(artifacts: ArtifactStore, ref: ArtifactRef) -> Pipeline:
    return training.deserialize(artifacts.get_bytes(ref))


def load_stage(engine: Engine, artifacts: ArtifactStore, model_name: str, stage: str) -> StagedModel | None:
    """The model holding ``stage`` (None when the stage is empty); its bytes must match their hash."""
    with session_scope(engine) as session:
        version = registry.version_in_stage(session, model_name=model_name, stage=stage)
    if version is None:
        return None
    return StagedModel(version=version, pipeline=load_artifact(artifacts, registry.artifact_of(version)))
