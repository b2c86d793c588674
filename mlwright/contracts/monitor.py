"""Contracts of the RetrainingMonitor workflow: input, carried state, cycle figures, controls, status."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from mlwright.contracts.common import Contract, ModelName, PositiveDuration
from mlwright.contracts.training import TrainingInput

Outcome = Literal["promoted", "rejected", "failed"]
Action = Literal["none", "retrain", "child_running", "cooldown", "too_few_outcomes"]


class MonitorThresholds(Contract):
    """When a model counts as degraded. Performance is judged on outcomes that have arrived only."""

    min_roc_auc: float = Field(0.70, ge=0, le=1, description="Classification: ROC AUC below this is degraded.")
    min_accuracy: float = Field(0.0, ge=0, le=1, description="Classification: accuracy below this is degraded.")
    max_rmse: float | None = Field(None, gt=0, description="Regression: RMSE above this is degraded.")
    drift_level: Literal["warning", "critical", "never"] = Field(
        "critical", description="Feature drift at or above this level is degraded ('never' ignores drift).")
    min_outcomes: int = Field(50, ge=1, description="Fewer arrived outcomes than this: performance not judged.")


class StreamSpec(Contract):
    """The synthetic prediction stream (mlwright/monitoring/stream.py) the monitor reads."""

    seed: int = Field(7, ge=0, le=2**32 - 1)
    rows_per_cycle: int = Field(500, ge=10, le=1_000_000)
    outcome_delay_cycles: int = Field(1, ge=0, le=30, description="Outcomes of cycle k's predictions arrive "
                                                                     "at cycle k + this.")
    drift_from_cycle: int | None = Field(None, ge=1, description="Inject drift from this cycle on (demos, tests).")


class ChildRun(Contract):
    workflow_id: str
    cycle: int
    started_at: datetime
    outcome: Outcome | None = None
    decision: str | None = Field(None, description="The child's TrainingResult.decision when it completed.")
    version: int | None = None
    reason: str = ""
    ended_at: datetime | None = None


class CycleFigures(Contract):
    """One cycle's figures: also the row kept in the store (monitor_cycle)."""

    cycle: int
    at: datetime
    trigger: str = Field("timer", description="'timer' or 'trigger_now: <reason>'.")
    predictions: int
    outcomes: int
    metric: str
    value: float | None = Field(description="None when fewer than min_outcomes arrived.")
    drift_level: str
    drifted_features: list[str] = Field(default_factory=list)
    degraded: bool
    reasons: list[str] = Field(default_factory=list)
    action: Action = "none"
    child_id: str | None = None


class MonitorState(Contract):
    """What continue-as-new carries to the next run; the workflow updates it in place."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    cycle: int = 0
    paused: bool = False
    thresholds: MonitorThresholds | None = None
    recent: list[CycleFigures] = Field(default_factory=list)
    child: ChildRun | None = None
    children: list[ChildRun] = Field(default_factory=list, description="Finished children, newest last (bounded).")
    cooldown_until: datetime | None = None
    pending_trigger: str | None = None
    runs: int = 1


class MonitorInput(Contract):
    """Input of RetrainingMonitor (workflow id ``monitor-<model_name>``)."""

    model_name: ModelName
    task: Literal["classification", "regression"] = "classification"
    interval: PositiveDuration = Field(timedelta(hours=1), description="Time between cycles (a durable timer).")
    thresholds: MonitorThresholds = Field(default_factory=MonitorThresholds)
    cooldown: PositiveDuration = Field(
        timedelta(hours=24), description="After a retrain ends, no new retrain before this has passed: the new model's "
                           "ground truth arrives late, so a backlog would otherwise spawn a retrain every cycle.")
    cycles_per_run: int = Field(100, ge=1, le=10_000, description="Continue-as-new after this many cycles.")
    max_history_events: int = Field(8_000, ge=200, le=40_000,
                                    description="Continue-as-new before the history grows past this.")
    keep_cycles: int = Field(20, ge=1, le=500, description="Cycles kept in memory for `status` (all are stored).")
    max_cycles: int | None = Field(None, ge=1, description="Stop after this many cycles in all (demos, tests).")
    stream: StreamSpec = Field(default_factory=StreamSpec)
    training: dict[str, Any] = Field(description="TrainingInput of the child TrainingPipeline a retrain starts.")
    state: MonitorState | None = Field(None, description="Set by continue-as-new only.")

    @field_validator("training")
    @classmethod
    def _training_input(cls, value: dict[str, Any]) -> dict[str, Any]:
        TrainingInput.model_validate(value)  # refused at start, not at the first retrain
        return value


class PauseRequest(Contract):
    operator: str = Field(min_length=1)
    reason: str = ""


class TriggerRequest(Contract):
    reason: str = Field(min_length=1, description="Why a cycle runs now; recorded with the cycle.")


class MonitorStatus(Contract):
    model_name: str
    cycle: int
    paused: bool
    thresholds: MonitorThresholds
    recent: list[CycleFigures]
    child: ChildRun | None
    children: list[ChildRun]
    cooldown_until: datetime | None
    next_cycle_at: datetime | None
    runs: int = Field(description="Runs of this monitor so far (continue-as-new starts a new one).")


class MonitorResult(Contract):
    model_name: str
    cycles: int
    children: list[ChildRun]
    child: ChildRun | None


# --- step contracts ---

class EvaluateCycleInput(Contract):
    model_name: str
    task: str
    cycle: int
    stream: StreamSpec
    thresholds: MonitorThresholds


class RecordCycleInput(Contract):
    monitor_id: str
    model_name: str
    figures: CycleFigures
    child: ChildRun | None = None


class Recorded(Contract):
    cycle: int


class PollChildInput(Contract):
    child: ChildRun
