"""What activities need from the outside world, built once per worker process."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from mlwright.ml.data_access import DataAccess
from mlwright.settings import Settings
from mlwright.store.artifacts import ArtifactStore
from mlwright.store.db import open_store


@dataclass(frozen=True)
class ActivityDeps:
    artifacts: ArtifactStore
    engine: Engine
    data: DataAccess
    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings) -> ActivityDeps:
        return cls(artifacts=ArtifactStore(settings.resolved_artifact_root),
                   engine=open_store(settings.resolved_database_url),
                   data=DataAccess.from_settings(settings), settings=settings)
