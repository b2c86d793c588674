"""Contracts of the PatientRiskPipeline: input, result, operator updates, progress query, steps."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator

from mlwright.contracts.common import Contract, Tags
from mlwright.contracts.refs import DatasetRef
from mlwright.contracts.triggers import UpstreamRun

# A failed step is `paging` while on-call is being told and `awaiting_operator` only once the page
# was delivered (or could not be: then `page.error` says why), so `progress` never promises a page
# that has not arrived.
StepState = Literal["pending", "running", "completed", "failed", "paging", "awaiting_operator", "skipped",
                    "cancelled"]
RunState = Literal["running", "paging", "awaiting_operator", "completed", "aborted"]


# Per-step options: one model per step (the catalog names each step's model), so an unknown step
# or key, a wrong type or a size out of bounds is refused when the run starts or the operator
# retries, naming `options.<step>.<key>`, instead of failing (or looping) inside the step.
# Defaults live here only: activities read every value from their step's model.

class StepOptions(Contract):
    """Options of a step that takes none."""

    # Strict: "lots" or "0.2" for a ratio, or true for a size, is a mistake to name, not to coerce.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _ratio(default: float, what: str) -> Any:
    return Field(default, ge=0.0, le=1.0, description=what)


def _days(default: int, what: str) -> Any:
    return Field(default, ge=0, le=3650, description=what)


class ValidateEhrOptions(StepOptions):
    max_invalid_ratio: float = _ratio(0.05, "Largest share of encounters dropped as invalid.")
    max_staleness_days: int = _days(14, "How old the newest admission may be.")


class ValidateLabsOptions(StepOptions):
    max_invalid_ratio: float = _ratio(0.1, "Largest share of lab values dropped as unusable or out of range.")
    max_staleness_days: int = _days(2, "How old the newest lab file may be.")


class ValidateClaimsOptions(StepOptions):
    max_invalid_ratio: float = _ratio(0.05, "Largest share of claims dropped as invalid.")
    max_staleness_days: int = _days(14, "How old the newest service date may be.")


class ValidatePharmacyOptions(StepOptions):
    max_invalid_ratio: float = _ratio(0.05, "Largest share of fills dropped as invalid.")
    max_staleness_days: int = _days(7, "How old the newest recorded fill may be.")


class ExtractPharmacyOptions(StepOptions):
    # The API's maximum: at a million patients (800 pages of 5,000) each request's fixed cost on both sides
    # was ~a fifth of the extract's CPU.
    page_size: int = Field(10_000, ge=1, le=10_000, description="Fills per page of the pharmacy API (at most its "
                           "maximum, 10,000).")


class QualityGateOptions(StepOptions):
    min_patients: int = Field(10, ge=1, le=100_000_000, description="Fewer patients fail the gate.")
    max_orphan_ratio: float = _ratio(0.02, "Largest share of a source's rows naming no known patient.")


class ValidateFeaturesOptions(StepOptions):
    max_null_ratio: float = _ratio(0.9, "Largest null share of any feature.")
    psi_threshold: float = Field(0.25, ge=0.0, le=100.0, description="PSI above which a feature is reported drifted.")


class ValidatePredictionsOptions(StepOptions):
    max_mean_shift: float = _ratio(0.15, "How far the mean score may move since the last run.")
    max_high_share: float = _ratio(0.6, "Largest share of patients in the high tier.")


class WriteFhirOptions(StepOptions):
    batch_size: int = Field(500, ge=1, le=5_000, description="RiskAssessments per FHIR transaction bundle.")
    max_in_flight: int = Field(4, ge=1, le=16, description="Transaction bundles sent at once (each PUTs its "
                                                          "resources by id, so their order does not matter).")


class SendAlertsOptions(StepOptions):
    max_in_flight: int = Field(8, ge=1, le=64, description="Alerts delivered at once; a crash mid-step can re-send "
                                                           "at most 4x this many (receivers drop them by dedup key).")


class PipelineOptions(Contract):
    """Overrides by step name; a step not named here takes no options."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    extract_ehr: StepOptions | None = None
    extract_labs: StepOptions | None = None
    extract_claims: StepOptions | None = None
    extract_pharmacy: ExtractPharmacyOptions | None = None
    validate_ehr: ValidateEhrOptions | None = None
    validate_labs: ValidateLabsOptions | None = None
    validate_claims: ValidateClaimsOptions | None = None
    validate_pharmacy: ValidatePharmacyOptions | None = None
    merge_by_patient: StepOptions | None = None
    quality_gate: QualityGateOptions | None = None
    compute_features: StepOptions | None = None
    validate_features: ValidateFeaturesOptions | None = None
    model_readmission: StepOptions | None = None
    model_deterioration: StepOptions | None = None
    model_acuity: StepOptions | None = None
    apply_business_rules: StepOptions | None = None
    validate_predictions: ValidatePredictionsOptions | None = None
    write_care_management: StepOptions | None = None
    write_fhir: WriteFhirOptions | None = None
    verify_writes: StepOptions | None = None
    send_alerts: SendAlertsOptions | None = None
    record_lineage: StepOptions | None = None
    publish_run_metrics: StepOptions | None = None

    def overrides(self) -> dict[str, dict[str, Any]]:
        """Only what the caller set, by step: what travels to each step's activity."""
        return {step: value.model_dump(exclude_unset=True)
                for step, value in self if value is not None}


def options_model(step: str) -> type[StepOptions]:
    """The options model of a pipeline step (KeyError for a name that is no step)."""
    field = PipelineOptions.model_fields[step]
    return next(t for t in getattr(field.annotation, "__args__", ()) if t is not type(None))


def check_step_options(step: str, options: dict[str, Any]) -> StepOptions:
    """Validate one step's options; the ValueError names every bad `options.<step>.<key>`."""
    try:
        return options_model(step).model_validate(options)
    except ValidationError as e:
        raise ValueError("; ".join(f"options.{step}.{'.'.join(str(p) for p in item['loc']) or '*'}: {item['msg']}"
                                   for item in e.errors())) from None


class ModelNames(Contract):
    readmission: str = Field("readmission-risk", description="Registry name of model 1.")
    deterioration: str = Field("deterioration-risk", description="Registry name of model 2 (uses model 1).")
    acuity: str = Field("acuity-risk", description="Registry name of model 3 (uses models 1 and 2).")


class PatientRiskInput(Contract):
    """Input of PatientRiskPipeline. Only run_date is required."""

    run_date: date = Field(description="The day scored, YYYY-MM-DD; sources are read as of this day.")
    models: ModelNames = Field(default_factory=ModelNames)
    options: PipelineOptions = Field(
        default_factory=PipelineOptions,
        description="Per-step overrides by step name, e.g. {\"validate_labs\": {\"max_invalid_ratio\": 0.2}}; "
                    "unknown steps and keys are refused.",
    )
    fhir_batch_size: int = Field(500, ge=1, le=5000, description="RiskAssessments per FHIR transaction bundle.")
    upstream: UpstreamRun | None = Field(None, description="Set when a declared dependency started this run: "
                                                           "the upstream run and its result summary.")
    tags: Tags | None = Field(None, description="Attribution (team, project) copied onto every step-ledger row.")

    @field_validator("run_date", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        if isinstance(value, str) and (len(value) != 10 or value[4] != "-" or value[7] != "-"):
            raise ValueError(f"expected YYYY-MM-DD, got {value!r}")
        return value


class UntypedOptionsInput(PatientRiskInput):
    """How runs started before options were typed read their input on replay: they accepted any
    options, and must keep replaying as they ran (their steps then check the options they get)."""

    options: dict[str, dict[str, Any]] = Field(default_factory=dict)  # type: ignore[assignment]


class RunRef(Contract):
    workflow_id: str
    run_id: str = Field(description="First run id of the execution chain; stable across retries and resets.")
    run_date: str

    def key(self, step: str) -> str:
        return f"{self.workflow_id}/{self.run_id}/{step}"


class StepOutput(Contract):
    """Base of every step's result."""

    attempt: int | None = Field(None, description="The activity attempt that produced this result (1 = first "
                                                   "try); set by the catalog's wrapper, absent in old histories.")


class StepInput(Contract):
    run: RunRef
    options: dict[str, Any] = Field(default_factory=dict)


class SourceSnapshot(StepOutput):
    source: str
    tables: dict[str, DatasetRef]


class SourceReport(Contract):
    source: str
    rows_in: int
    rows_out: int
    issues: dict[str, int]
    checks: list[dict[str, Any]]


class ValidatedSource(StepOutput):
    source: str
    tables: dict[str, DatasetRef]
    report: SourceReport


class ValidateSourceInput(StepInput):
    snapshot: SourceSnapshot


class MergeInput(StepInput):
    sources: list[ValidatedSource]


class MergedSet(StepOutput):
    tables: dict[str, DatasetRef]
    patients: int
    orphans: dict[str, float] = Field(description="Share of each source's rows naming no known patient.")


class MergedInput(StepInput):
    merged: MergedSet


class GateReport(StepOutput):
    passed: bool
    checks: list[dict[str, Any]]


class StoreFeatures(Contract):
    """This date's features as FeaturePipeline stored them (the run that started this one by dependency)."""

    feature_set: str = Field("patient_risk", pattern=r"^[a-z][a-z0-9_]{0,62}$",
                             description="Offline store partition read: feature_set=<this>/date=<run date>.")
    upstream_workflow_id: str = Field(description="The FeaturePipeline run that wrote it (for the step's log).")


class ComputeFeaturesInput(MergedInput):
    store: StoreFeatures | None = Field(None, description="Read the features from the offline store when its "
                                                          "partition holds exactly the merged patients; else compute.")


class FeatureTable(StepOutput):
    data: DatasetRef
    patients: int
    source: Literal["computed", "feature_store"] = Field("computed", description="Where the values came from.")


class FeaturesStepInput(StepInput):
    features: FeatureTable


class FeatureReport(StepOutput):
    max_null_ratio: float
    out_of_range: dict[str, int]
    drift: dict[str, float] = Field(description="Population stability index per feature vs the last run.")
    drifted: list[str]
    previous_run: str | None


class Predictions(StepOutput):
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


class RiskTable(StepOutput):
    data: DatasetRef
    model_versions: dict[str, int]
    tiers: dict[str, int]
    overrides: int
    overrides_ref: DatasetRef


class RiskInput(StepInput):
    risk: RiskTable


class PredictionReport(StepOutput):
    mean_score: float
    previous_mean_score: float | None
    high_share: float


class WriteResult(StepOutput):
    target: str
    rows: int
    checksum: str


class VerifyInput(StepInput):
    risk: RiskTable
    writes: list[WriteResult]


class VerifyReport(StepOutput):
    expected_rows: int
    counts: dict[str, int]
    checksums: dict[str, str]


class AlertsResult(StepOutput):
    candidates: int
    sent: int
    already_sent: int


class LineageInput(StepInput):
    snapshots: list[SourceSnapshot]
    features: FeatureTable
    risk: RiskTable
    writes: list[WriteResult]
    alerts: AlertsResult | None


class Recorded(StepOutput):
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
    event_action: Literal["trigger", "resolve"] = Field(
        "trigger", description="resolve: the step recovered (retry_step succeeded); closes the incident.")

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
