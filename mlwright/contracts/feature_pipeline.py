"""Contracts of FeaturePipeline: its input, each step's input/output (references and counts, never
feature values or patient data), and its result."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, field_validator

from mlwright.contracts.common import Contract, Tags
from mlwright.contracts.refs import DatasetRef
from mlwright.contracts.triggers import UpstreamRun

DriftLevel = Literal["none", "warning", "critical"]


def _iso(value: object) -> object:
    if isinstance(value, str) and (len(value) != 10 or value[4] != "-" or value[7] != "-"):
        raise ValueError(f"expected YYYY-MM-DD, got {value!r}")
    return value


class FeaturePipelineInput(Contract):
    """Input of FeaturePipeline. Nothing is required: without run_date the run's scheduled (or start) date is used."""

    run_date: date | None = Field(None, description="The day computed, YYYY-MM-DD; default: the scheduled start's "
                                                    "date (TemporalScheduledStartTime), else the run's start date.")
    feature_set: str = Field("patient_risk", pattern=r"^[a-z][a-z0-9_]{0,62}$",
                             description="Name of the feature set (offline partition and online key prefix).")
    reference_date: date | None = Field(None, description="Partition drift is measured against; default: the "
                                                          "training data of the production version of "
                                                          "reference_model, else the latest earlier partition.")
    reference_model: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$",
                                        description="Registry model whose production training data is the default "
                                                    "reference; default: the model the feature set feeds "
                                                    "(patient_risk: readmission-risk).")
    upstream: UpstreamRun | None = Field(None, description="Set when a declared dependency started this run.")
    tags: Tags | None = Field(None, description="Attribution (team, project) copied onto every step-ledger row.")
    backfill: bool = Field(False, description="Set by `mlwright backfill`: read every source's whole window and "
                                              "leave the watermarks where they are.")

    _iso_run = field_validator("run_date", "reference_date", mode="before")(classmethod(lambda cls, v: _iso(v)))


class FeatureRun(Contract):
    workflow_id: str
    run_id: str = Field(description="First run id of the execution chain.")
    run_date: str
    feature_set: str
    backfill: bool = False

    @property
    def run_key(self) -> str:
        # Per feature set and date, not per workflow run: a second run for the date finds the first's rows.
        return f"{self.feature_set}/{self.run_date}"


class FeatureStepInput(Contract):
    run: FeatureRun


class SourceTables(Contract):
    tables: dict[str, DatasetRef]
    rows: dict[str, int]
    read: dict[str, int] = Field(default_factory=dict, description="Rows taken from each source system this run "
                                 "(only those after its watermark when read incrementally).")
    read_after: dict[str, str] = Field(default_factory=dict, description="Watermark each incrementally read "
                                       "source was read after; a source not named was read whole.")
    high_water: dict[str, str] = Field(default_factory=dict, description="Newest time per source in the tables.")


class TablesInput(FeatureStepInput):
    sources: SourceTables


class FeatureFrame(Contract):
    data: DatasetRef
    entities: int
    features: int


class FrameInput(FeatureStepInput):
    features: FeatureFrame


class FeatureCheck(Contract):
    max_null_ratio: float
    out_of_range: int


class StoreWrite(Contract):
    target: str = Field(description="Where the rows went: an offline partition path or the online store kind.")
    rows: int


class StatsWritten(Contract):
    features: int
    added: int = Field(description="Rows added this time; 0 when the run's statistics were already stored.")


class DriftInput(FeatureStepInput):
    reference_date: str | None = None
    reference_model: str | None = None


class DriftSummary(Contract):
    level: DriftLevel
    reference_date: str | None
    reference: str | None = Field(None, description="What drift was measured against: 'partition <date>' or "
                                                    "'<model> v<n> training data'; none for a first run.")
    drifted: list[str] = Field(default_factory=list, description="Names of features at warning or critical.")
    critical: list[str] = Field(default_factory=list)
    report: dict[str, str] = Field(default_factory=dict, description="Paths of drift.json and drift.html.")


class DriftAlertInput(FeatureStepInput):
    drift: DriftSummary


class DriftAlertResult(Contract):
    sent: int
    already_sent: int


class WatermarkInput(FeatureStepInput):
    sources: SourceTables = Field(description="What the extract step read: tables and high-water marks.")


class WatermarkResult(Contract):
    advanced: list[str] = Field(description="Sources whose watermark moved forward.")
    marks: dict[str, str] = Field(description="Each source's watermark after the step.")


class FeaturePipelineResult(Contract):
    run_date: str
    feature_set: str
    state: Literal["completed"] = "completed"
    source_rows: dict[str, int]
    entities: int
    features: int
    offline_rows: int
    offline_partition: str
    online_rows: int
    stats_features: int
    drift_level: DriftLevel
    reference_date: str | None
    drifted: list[str]
    report: dict[str, str]
    alerts_sent: int
    reference: str | None = None
    source_read: dict[str, int] = Field(default_factory=dict, description="Rows read from each source system.")
    read_after: dict[str, str] = Field(default_factory=dict, description="Sources read incrementally, and after what.")
    watermarks_advanced: list[str] = Field(default_factory=list)


class StepStatus(Contract):
    name: str
    state: Literal["pending", "running", "completed", "skipped"]


class FeatureProgress(Contract):
    run_date: str
    feature_set: str
    state: Literal["running", "completed"]
    steps: list[StepStatus]
