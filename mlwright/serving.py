"""Loading registered models the way a serving process does: through a stage, hash-checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from mlwright.contracts.refs import ArtifactRef
from mlwright.errors import InvalidInput
from mlwright.ml import training
from mlwright.store import registry
from mlwright.store.artifacts import ArtifactStore
from mlwright.store.db import session_scope
from mlwright.store.tables import ModelVersion

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline  # unpickling a model imports scikit-learn when one is loaded


@dataclass(frozen=True)
class StagedModel:
    version: ModelVersion
    pipeline: Pipeline

    @property
    def inputs(self) -> list[str]:
        """The columns the model was trained on, as recorded in the registry."""
        return self.version.feature_schema["numeric"] + self.version.feature_schema["categorical"]

    def positive_probability(self, table: pd.DataFrame) -> np.ndarray:
        missing = [column for column in self.inputs if column not in table.columns]
        if missing:
            raise InvalidInput("models", f"{self.version.model_name} v{self.version.version} needs {missing}")
        return self.pipeline.predict_proba(table[self.inputs])[:, 1]


def load_artifact(artifacts: ArtifactStore, ref: ArtifactRef) -> Pipeline:
    return training.deserialize(artifacts.get_bytes(ref))


def load_stage(engine: Engine, artifacts: ArtifactStore, model_name: str, stage: str) -> StagedModel | None:
    """The model holding ``stage`` (None when the stage is empty); its bytes must match their hash."""
    with session_scope(engine) as session:
        version = registry.version_in_stage(session, model_name=model_name, stage=stage)
    if version is None:
        return None
    return StagedModel(version=version, pipeline=load_artifact(artifacts, registry.artifact_of(version)))
