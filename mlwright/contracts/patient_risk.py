"""Contracts of the PatientRiskPipeline: input, result, operator updates, progress query, steps."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from mlwright.contracts.common import Contract
from mlwright.contracts.refs import DatasetRef

# A failed step is `paging` while on-call is being told and `awaiting_operator` only once the page
# was delivered (or could not be: then `page.error` says why), so `progress` never promises a page
# that has not arrived.
StepState = Literal["pending", "running", "completed", "failed", "paging", "awaiting_operator", "skipped"]
RunState = Literal["running", "paging", "awaiting_operator", "completed", "aborted"]


class ModelNames(Contract):
    readmission: str = Field("readmission-risk", description="Registry name of model 1.")
    deterioration: str = Field("deterioration-risk", description="Registry name of model 2 (uses model 1).")
    acuity: str = Field("acuity-risk", description="Registry name of model 3 (uses models 1 and 2).")


class PatientRiskInput(Contract):
    """Input of PatientRiskPipeline. Only run_date is required."""

    run_date: date = Field(description="The day scored, YYYY-MM-DD; sources are read as of this day.")
    models: ModelNames = Field(default_factory=ModelNames)
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-step overrides by step name, e.g. {\"validate_labs\": {\"max_invalid_ratio\": 0.2}}.",
    )
    fhir_batch_size: int = Field(500, ge=1, le=5000, description="RiskAssessments per FHIR transaction bundle.")

    @field_validator("run_date", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        if isinstance(value, str) and (len(value) != 10 or value[4] != "-" or value[7] != "-"):
            raise ValueError(f"expected YYYY-MM-DD, got {value!r}")
        return value


class RunRef(Contract):
    workflow_id: str
    run_id: str = Field(description="First run id of the execution chain; stable across retries and resets.")
    run_date: str

    def key(self, step: str) -> str:
        return f"{self.workflow_id}/{self.run_id}/{step}"


class StepInput(Contract):
    run: RunRef
    options: dict[str, Any] = Field(default_factory=dict)


class SourceSnapshot(Contract):
    source: str
    tables: dict[str, DatasetRef]


class SourceReport(Contract):
    source: str
    rows_in: int
    rows_out: int
    issues: dict[str, int]
    checks: list[dict[str, Any]]


class ValidatedSource(Contract):
    source: str
    tables: dict[str, DatasetRef]
    report: SourceReport


class ValidateSourceInput(StepInput):
    snapshot: SourceSnapshot


class MergeInput(StepInput):
    sources: list[ValidatedSource]


class MergedSet(Contract):
    tables: dict[str, DatasetRef]
    patients: int
    orphans: dict[str, float] = Field(description="Share of each source's rows naming no known patient.")


class MergedInput(StepInput):
    merged: MergedSet


class GateReport(Contract):
    passed: bool
    checks: list[dict[str, Any]]


class FeatureTable(Contract):
    data: DatasetRef
    patients: int


class FeaturesStepInput(StepInput):
    features: FeatureTable


class FeatureReport(Contract):
    max_null_ratio: float
    out_of_range: dict[str, int]
    drift: dict[str, float] = Field(description="Population stability index per feature vs the last run.")
    drifted: list[str]
    previous_run: str | None


class Predictions(Contract):
    data: DatasetRef
    model_versions: dict[str, int]


class ScoreInput(StepInput):
    features: FeatureTable
    model_name: str
    column: str = Field(description="Name of the prediction column this model adds.")
    upstream: Predictions | None = Field(None, description="Earlier models' predictions, used as inputs.")


class RulesInput(StepInput):
    features: FeatureTable
    predictions: Predictions


class RiskTable(Contract):
    data: DatasetRef
    model_versions: dict[str, int]
    tiers: dict[str, int]
    overrides: int
    overrides_ref: DatasetRef


class RiskInput(StepInput):
    risk: RiskTable


class PredictionReport(Contract):
    mean_score: float
    previous_mean_score: float | None
    high_share: float


class WriteResult(Contract):
    target: str
    rows: int
    checksum: str


class VerifyInput(StepInput):
    risk: RiskTable
    writes: list[WriteResult]


class VerifyReport(Contract):
    expected_rows: int
    counts: dict[str, int]
    checksums: dict[str, str]


class AlertsResult(Contract):
    candidates: int
    sent: int
    already_sent: int


class LineageInput(StepInput):
    snapshots: list[SourceSnapshot]
    features: FeatureTable
    risk: RiskTable
    writes: list[WriteResult]
    alerts: AlertsResult | None


class Recorded(Contract):
    key: str


class PageDelivery(Contract):
    """What became of the page to on-call about a step's latest failure."""

    dedup_key: str = Field(description="The alert's dedup key (also its Idempotency-Key header).")
    delivered_at: datetime | None = Field(None, description="When every alert route accepted the page.")
    error: str | None = Field(None, description="Why the page could not be delivered.")


class StepProgress(Contract):
    number: int
    name: str
    state: StepState
    attempts: int = Field(0, description="Activity attempts, across operator retries.")
    duration_s: float | None = None
    error: str | None = None
    page: PageDelivery | None = Field(None, description="The on-call page about the latest failure.")


class MetricsInput(StepInput):
    steps: list[StepProgress]
    patients: int
    tiers: dict[str, int]


class OperatorAlertInput(StepInput):
    step: str
    number: int
    error: str
    attempts: int
    skippable: bool

    @property
    def dedup_key(self) -> str:
        # The failure count in the key: a second failure of the same step after a retry pages again.
        return f"{self.run.key(self.step)}/failure-{self.options.get('failure', 1)}"


class RetryStep(Contract):
    """Update `retry_step`: re-run the failed step, optionally with overrides of its options."""

    step: str
    operator: str = Field(min_length=1)
    reason: str = ""
    options: dict[str, Any] = Field(default_factory=dict, description="Merged into the step's options.")


class SkipStep(Contract):
    step: str
    operator: str = Field(min_length=1)
    reason: str = Field(min_length=1, description="Why skipping is safe; recorded.")


class Abort(Contract):
    operator: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class Progress(Contract):
    run_date: str
    state: RunState
    steps: list[StepProgress]


class PatientRiskResult(Contract):
    run_date: str
    state: RunState
    patients: int
    tiers: dict[str, int]
    model_versions: dict[str, int]
    alerts_sent: int
    steps: list[StepProgress]
    reason: str = ""
