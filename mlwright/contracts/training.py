"""Contracts of the TrainingPipeline workflow: its input, result, updates and status query."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mlwright.contracts.common import Contract, Duration, ModelName, Tags
from mlwright.contracts.dataset import DatasetSpec

Task = Literal["classification", "regression"]
Decision = Literal["promoted", "rejected", "not_improved", "rolled_back", "failed_integration"]

# Which tasks each estimator supports. Kept here (not next to scikit-learn) so a bad name is
# refused when the run starts, before any step runs.
ESTIMATOR_TASKS: dict[str, frozenset[str]] = {
    "logistic_regression": frozenset({"classification"}),
    "random_forest": frozenset({"classification", "regression"}),
    "gradient_boosting": frozenset({"classification", "regression"}),
    "linear_regression": frozenset({"regression"}),
    "ridge": frozenset({"classification", "regression"}),
}

METRIC_DIRECTIONS: dict[str, dict[str, int]] = {
    "classification": {"accuracy": 1, "f1": 1, "precision": 1, "recall": 1, "roc_auc": 1, "log_loss": -1},
    "regression": {"r2": 1, "rmse": -1, "mae": -1},
}
DEFAULT_METRIC: dict[str, str] = {"classification": "f1", "regression": "r2"}


class EstimatorSpec(Contract):
    name: str = Field("random_forest", description=f"One of: {', '.join(ESTIMATOR_TASKS)}.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="scikit-learn constructor parameters, e.g. {\"n_estimators\": 200}."
    )

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in ESTIMATOR_TASKS:
            raise ValueError(f"unknown estimator {value!r}; choose one of {sorted(ESTIMATOR_TASKS)}")
        return value


class SplitSpec(Contract):
    test_size: float = Field(0.2, gt=0, lt=1, description="Fraction of rows held out for evaluation.")
    # scikit-learn and numpy take seeds in [0, 2**32 - 1]; refused here so the split step is not blamed.
    seed: int = Field(
        42, ge=0, le=2**32 - 1,
        description="Seed of the split and of the estimator (0 to 2**32 - 1), for repeatable runs.",
    )


class QualitySpec(Contract):
    min_rows: int = Field(50, ge=1, description="Fewer rows than this fails the quality gate.")
    max_null_ratio: float = Field(0.2, ge=0, le=1, description="Largest share of nulls a column may hold.")
    min_class_ratio: float = Field(
        0.05, ge=0, le=0.5, description="Smallest share of rows the rarest class may hold (classification)."
    )
    required_columns: list[str] = Field(default_factory=list, description="Columns that must be present.")


class PromotionPolicy(Contract):
    metric: str | None = Field(None, description="Metric that decides; default f1 (classification) or r2.")
    min_improvement: float = Field(
        0.005, ge=0, description="How much the candidate must beat production by, on the same test rows."
    )
    approval_timeout: Duration = Field(
        timedelta(hours=72), description="Without approve/reject by then, the candidate is rejected."
    )
    canary_fraction: float = Field(0.1, gt=0, le=1, description="Share of production traffic for the canary.")
    canary_duration: Duration = Field(timedelta(minutes=10), description="How long the canary is watched.")
    canary_max_regression: float = Field(
        0.02, ge=0, description="How far the canary's metric may fall below production's before rollback."
    )

    @field_validator("approval_timeout", "canary_duration")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive")
        return value


class TrainingInput(Contract):
    """Input of TrainingPipeline. Only model_name, the dataset (source + path/query, or uri) and its target are
    required."""

    model_name: ModelName
    dataset: DatasetSpec
    task: Task | None = Field(None, description="Inferred from the target column when absent.")
    estimator: EstimatorSpec = Field(default_factory=EstimatorSpec)
    split: SplitSpec = Field(default_factory=SplitSpec)
    quality: QualitySpec = Field(default_factory=QualitySpec)
    promotion: PromotionPolicy = Field(default_factory=PromotionPolicy)
    tags: Tags | None = Field(None, description="Attribution (team, project) copied onto every step-ledger row.")
    requested_by: str | None = Field(
        None, description="Who started the run; the approval policy refuses their approval of its candidate.")

    @model_validator(mode="after")
    def _consistent(self) -> TrainingInput:
        if self.task is not None:
            check_estimator_task(self.estimator.name, self.task)
            check_metric(self.promotion.metric, self.task)
        return self


def check_estimator_task(estimator: str, task: str) -> None:
    if task not in ESTIMATOR_TASKS[estimator]:
        raise ValueError(f"estimator.name {estimator!r} does not support task {task!r}")


def check_metric(metric: str | None, task: str) -> None:
    if metric is not None and metric not in METRIC_DIRECTIONS[task]:
        raise ValueError(
            f"promotion.metric {metric!r} is not a {task} metric; choose one of {sorted(METRIC_DIRECTIONS[task])}"
        )


class ApprovalDecision(Contract):
    """Input of `approve` and `reject`, sent as an Update or as a Signal."""

    approver: str = Field(description="Who decides; recorded in the registry's stage history.")
    reason: str = Field("", description="Why; recorded with the decision.")


class RefusedDecision(Contract):
    """An approve/reject Signal that was not applied (a Signal cannot be refused to its sender)."""

    action: Literal["approve", "reject"]
    approver: str | None = Field(description="As sent; None when the input had no usable approver.")
    refusal: str = Field(description="Why it was refused.")
    at: datetime


class TrainingStatus(Contract):
    """Answer of the `status` query."""

    step: str
    awaiting_approval: bool
    candidate_version: int | None = None
    candidate_metrics: dict[str, float] = Field(default_factory=dict)
    production_version: int | None = None
    production_metrics: dict[str, float] = Field(default_factory=dict)
    metric: str | None = None
    decision: Decision | None = None
    waiting_for: str | None = Field(
        None, description="What the run waits for, e.g. the model's promotion slot held by another run."
    )
    refused: list[RefusedDecision] = Field(default_factory=list,
                                           description="Refused approve/reject signals.")


class TrainingResult(Contract):
    model_name: str
    version: int | None = Field(description="Registered version; None when the candidate did not improve.")
    task: Task
    metric: str
    metrics: dict[str, float]
    production_version: int | None
    production_metrics: dict[str, float]
    decision: Decision
    decided_by: str | None = Field(None, description="Approver, or 'timeout' / 'canary-watch'.")
    reason: str = ""
    step_durations: dict[str, float] = Field(description="Seconds per step, in the order run.")
    refused: list[RefusedDecision] = Field(default_factory=list,
                                           description="Refused approve/reject signals.")
