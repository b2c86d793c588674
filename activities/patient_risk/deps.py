"""What the patient-risk activities need: the shared deps plus the source systems, the care
database, the downstream FHIR endpoint and the alert routes. Built once per worker."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy import Engine

from activities.deps import ActivityDeps
from mlwright.patient_risk.sources import SourceLocations
from mlwright.settings import Settings
from mlwright.store.db import make_engine


@dataclass(frozen=True)
class PatientRiskDeps:
    base: ActivityDeps
    settings: Settings
    sources: SourceLocations
    care_engine: Engine
    http: httpx.Client

    @classmethod
    def build(cls, base: ActivityDeps, settings: Settings) -> PatientRiskDeps:
        # Library retries are off (httpx has none by default): Temporal's retry policy is the one
        # place that decides whether and when to try again.
        http = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0),
                            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16))
        return cls(base=base, settings=settings,
                   sources=SourceLocations.under(settings.resolved_sources_root, settings.ehr_url),
                   care_engine=make_engine(settings.resolved_care_database_url), http=http)
