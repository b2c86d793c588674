"""Inputs and outputs of the TrainingPipeline's activities."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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


class RetireStage(Contract):
    run: RunKey
    step: str
    model_name: str
    stage: Stage
    actor: str
    reason: str = ""


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
