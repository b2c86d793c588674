"""Inputs and outputs of the TrainingPipeline's activities."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from mlwright.approvals import ApprovalPolicy, ApprovalVerdict
from mlwright.contracts.common import Contract
from mlwright.contracts.refs import ArtifactRef, DatasetRef
from mlwright.contracts.training import (
    DatasetSpec,
    EstimatorSpec,
    QualitySpec,
    SplitSpec,
    Task,
)

Stage = Literal["staging", "canary", "production"]


class RunKey(Contract):
    """Identifies the pipeline run a step belongs to: the idempotency key of its side effects."""

    workflow_id: str
    run_id: str = Field(description="First run id of the execution chain; stable across retries.")

    def key(self, step: str) -> str:
        return f"{self.workflow_id}/{self.run_id}/{step}"


class InputCheck(Contract):
    """What is checked against scikit-learn's published parameter constraints and the deployment's caps."""

    estimator: EstimatorSpec
    task: Task | None = Field(description="When None, the parameters must suit one of the estimator's tasks.")


class InputLimits(Contract):
    max_fit: timedelta = Field(description="Timeout of one fit attempt on this deployment.")
    max_rows: int | None = Field(None, description="Most rows a run may train on; None: no limit.")


class SlotRequest(Contract):
    """Ask for the model's promotion slot; the run joins the model's queue if it is not first."""

    run: RunKey
    model_name: str
    stale: RunKey | None = Field(None, description="A holder found closed: its claim is dropped first.")


class SlotState(Contract):
    held: bool = Field(description="True when this run holds the slot.")
    holder: RunKey | None = Field(description="The run holding the slot when it is not this one.")
    ahead: int = Field(description="Runs of the model ahead of this one, the holder included.")
    poll_s: float = Field(description="How long to wait before checking that the holder still runs.")


class SlotRelease(Contract):
    run: RunKey
    model_name: str


class SlotReleased(Contract):
    next_in_line: RunKey | None = Field(description="The run to wake: the slot is now its.")


class ExtractInput(Contract):
    dataset: DatasetSpec


class QualityInput(Contract):
    run: RunKey
    data: DatasetRef
    target: str
    task: Task | None
    quality: QualitySpec


class QualityCheck(Contract):
    name: str
    column: str | None = None
    passed: bool
    value: float | None = None
    threshold: float | None = None
    detail: str = ""


class QualityReport(Contract):
    passed: bool
    rows: int
    checks: list[QualityCheck]
    report: ArtifactRef | None = Field(None, description="The full report as stored JSON.")


class FeaturesInput(Contract):
    data: DatasetRef
    target: str
    task: Task | None


class FeatureSet(Contract):
    data: DatasetRef
    target: str
    task: Task
    numeric: list[str]
    categorical: list[str]
    dropped: dict[str, str] = Field(default_factory=dict, description="Column -> why it was dropped.")


class SplitInput(Contract):
    features: FeatureSet
    split: SplitSpec


class SplitOutput(Contract):
    train: DatasetRef
    test: DatasetRef


class TrainInput(Contract):
    features: FeatureSet
    train: DatasetRef
    estimator: EstimatorSpec
    seed: int


class TrainedModel(Contract):
    artifact: ArtifactRef
    params: dict[str, str | int | float | bool | None]
    fit_seconds: float


class EvaluateInput(Contract):
    model: ArtifactRef
    test: DatasetRef
    target: str
    task: Task


class Metrics(Contract):
    values: dict[str, float]


class CompareInput(Contract):
    model_name: str
    candidate: Metrics
    test: DatasetRef
    target: str
    task: Task
    metric: str
    min_improvement: float


class Comparison(Contract):
    production_version: int | None
    production_metrics: dict[str, float]
    improvement: float | None = Field(description="Candidate minus production, sign-adjusted: > 0 is better.")
    beats_production: bool
    detail: str


class RegisterInput(Contract):
    run: RunKey
    model_name: str
    task: Task
    estimator: EstimatorSpec
    model: TrainedModel
    metrics: Metrics
    training_data: DatasetRef
    features: FeatureSet


class RegisteredVersion(Contract):
    model_name: str
    version: int


class StageChange(Contract):
    run: RunKey
    step: str = Field(description="Names the transition in its idempotency key.")
    model_name: str
    version: int
    stage: Stage | Literal["archived"]
    traffic_fraction: float = 1.0
    actor: str
    reason: str = ""
    require_slot: bool = Field(False, description="Refuse unless this run holds the model's promotion slot.")


class RetireStage(Contract):
    run: RunKey
    step: str
    model_name: str
    stage: Stage
    actor: str
    reason: str = ""
    require_slot: bool = Field(False, description="Refuse unless this run holds the model's promotion slot.")


class RefusalRecord(Contract):
    """An approve/reject signal the run refused, for the registry's audit trail."""

    run: RunKey
    index: int = Field(description="Which refusal of the run (0, 1, ...): its idempotency key.")
    model_name: str
    version: int | None = Field(description="The run's candidate, None before it is registered.")
    actor: str
    reason: str


class RefusalRecorded(Contract):
    index: int


class StageRetired(Contract):
    model_name: str
    stage: Stage
    version: int | None = Field(description="Version that held the stage, None if it was already empty.")


class IntegrationInput(Contract):
    model_name: str
    stage: Stage
    expected_version: int
    test: DatasetRef
    target: str
    task: Task
    expected_metrics: Metrics
    tolerance: float = 1e-6


class IntegrationReport(Contract):
    passed: bool
    checks: list[QualityCheck]


class CanaryInput(Contract):
    model_name: str
    version: int | None = Field(None, description="The run's own version: the canary must hold it.")
    test: DatasetRef
    target: str
    task: Task
    metric: str
    max_regression: float


class CanaryReport(Contract):
    healthy: bool
    canary_version: int | None
    production_version: int | None
    canary_metric: float | None
    production_metric: float | None
    detail: str


# --- approval policy (issue 9) ---
class PolicyRequest(Contract):
    model_name: str


class ApprovalPolicyState(Contract):
    """The deployment's approval policy as the run saw it; None = no policy file, approvals unchecked."""

    policy: ApprovalPolicy | None = None


class ApprovalDecisionRecord(Contract):
    """One approve/reject decision for the approval audit table."""

    run: RunKey
    index: int = Field(description="Which decision of the run (0, 1, ...): its idempotency key.")
    model_name: str
    version: int | None
    identity: str
    decision: str
    verdict: ApprovalVerdict


class ApprovalDecisionRecorded(Contract):
    index: int
