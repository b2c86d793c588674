"""Tables of the model registry and the quality-report archive.

Each entity has a ``*Base`` (shared fields), a ``*Create`` where callers build rows, and the
``table=True`` class. Natural keys carry unique constraints so a retried write cannot duplicate.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _timestamp() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class ModelVersionBase(SQLModel):
    model_name: str = Field(index=True, max_length=64)
    task: str
    estimator: str
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    metrics: dict[str, float] = Field(default_factory=dict, sa_type=JSON)
    artifact_uri: str
    artifact_sha256: str = Field(max_length=64)
    artifact_size: int
    data_sha256: str = Field(max_length=64, description="Fingerprint of the training data snapshot.")
    data_rows: int
    feature_schema: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    source_run: str = Field(description="Workflow run that produced it: workflow_id/run_id.")


class ModelVersionCreate(ModelVersionBase):
    pass


class ModelVersion(ModelVersionBase, table=True):
    __tablename__ = "model_version"
    __table_args__ = (
        UniqueConstraint("model_name", "version", name="uq_model_version"),
        # A retried register step finds its own row instead of adding a second version.
        UniqueConstraint("model_name", "source_run", name="uq_model_version_source"),
    )

    id: int | None = Field(default=None, primary_key=True)
    version: int
    created_at: datetime = _timestamp()


class ModelStage(SQLModel, table=True):
    """Which version holds each stage of a model now (staging, canary, production)."""

    __tablename__ = "model_stage"

    model_name: str = Field(primary_key=True, max_length=64)
    stage: str = Field(primary_key=True, max_length=16)
    version: int
    traffic_fraction: float = 1.0
    updated_at: datetime = _timestamp()


class StageTransition(SQLModel, table=True):
    """Audit trail: every stage change, who made it, when and why; and every refused approval."""

    __tablename__ = "stage_transition"

    id: int | None = Field(default=None, primary_key=True)
    model_name: str = Field(index=True, max_length=64)
    version: int | None = Field(description="Version entering the stage; None when the stage is emptied.")
    previous_version: int | None = None
    stage: str = Field(max_length=16)
    traffic_fraction: float | None = None
    actor: str
    reason: str = ""
    idempotency_key: str = Field(unique=True)
    at: datetime = _timestamp()


class QualityReportRecord(SQLModel, table=True):
    __tablename__ = "quality_report"

    id: int | None = Field(default=None, primary_key=True)
    run_key: str = Field(unique=True, description="workflow_id/run_id/step: one report per run.")
    passed: bool
    data_sha256: str = Field(max_length=64)
    report: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = _timestamp()


class AlertRecord(SQLModel, table=True):
    """Every alert mlwright raises, keyed so a retried step never sends one twice."""

    __tablename__ = "alert"

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(unique=True, description="e.g. patient-risk/2026-11-27/P0000042/high_risk")
    severity: str = Field(max_length=16)
    kind: str = Field(max_length=32)
    run_date: str | None = Field(default=None, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    sent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    created_at: datetime = _timestamp()


class RunLineage(SQLModel, table=True):
    __tablename__ = "run_lineage"

    id: int | None = Field(default=None, primary_key=True)
    run_key: str = Field(unique=True)
    pipeline: str
    run_date: str = Field(index=True)
    inputs: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    models: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    outputs: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = _timestamp()


class RunMetric(SQLModel, table=True):
    __tablename__ = "run_metric"
    __table_args__ = (UniqueConstraint("run_key", "name", name="uq_run_metric"),)

    id: int | None = Field(default=None, primary_key=True)
    run_key: str = Field(index=True)
    pipeline: str
    run_date: str
    name: str
    value: float
    created_at: datetime = _timestamp()


class FeatureStats(SQLModel, table=True):
    """Per-run feature distributions: the reference the next run's drift check compares against."""

    __tablename__ = "feature_stats"

    id: int | None = Field(default=None, primary_key=True)
    run_key: str = Field(unique=True)
    run_date: str = Field(index=True)
    stats: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    mean_score: float | None = None
    created_at: datetime = _timestamp()


class PromotionClaim(SQLModel, table=True):
    """A TrainingPipeline run's place in its model's promotion queue (see mlwright/store/promotion.py)."""

    __tablename__ = "promotion_claim"
    __table_args__ = (UniqueConstraint("model_name", "workflow_id", "run_id", name="uq_promotion_claim"),)

    id: int | None = Field(default=None, primary_key=True)
    model_name: str = Field(index=True, max_length=64)
    workflow_id: str
    run_id: str = Field(description="First run id of the claiming execution chain.")
    created_at: datetime = _timestamp()


class ApprovalAudit(SQLModel, table=True):
    """Every approval decision, accepted or refused, with the policy rule that decided it."""

    __tablename__ = "approval_audit"

    id: int | None = Field(default=None, primary_key=True)
    model_name: str = Field(index=True, max_length=64)
    version: int | None = None
    identity: str
    decision: str = Field(max_length=16, description="approve or reject, as requested.")
    allowed: bool
    rule: str
    reason: str = ""
    idempotency_key: str = Field(unique=True, description="A retried write finds its row instead of adding one.")
    at: datetime = _timestamp()


class FeatureRunStats(SQLModel, table=True):
    """One feature's distribution in one FeaturePipeline run (issue 7): the drift references."""

    __tablename__ = "feature_run_stats"
    __table_args__ = (UniqueConstraint("feature_set", "run_key", "feature", name="uq_feature_run_stats"),)

    id: int | None = Field(default=None, primary_key=True)
    feature_set: str = Field(index=True, max_length=64)
    run_key: str = Field(index=True)
    run_date: str = Field(index=True)
    feature: str
    stats: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = _timestamp()


class SourceWatermark(SQLModel, table=True):
    """Newest source timestamp a successful FeaturePipeline run has consumed (issue 7)."""

    __tablename__ = "source_watermark"
    __table_args__ = (UniqueConstraint("feature_set", "source", name="uq_source_watermark"),)

    id: int | None = Field(default=None, primary_key=True)
    feature_set: str = Field(max_length=64)
    source: str = Field(max_length=64)
    watermark: str = Field(description="ISO timestamp; rows at or before it were read by an earlier run.")
    run_key: str
    updated_at: datetime = _timestamp()


class SourceWindow(SQLModel, table=True):
    """The window table a successful FeaturePipeline run consumed from one source, by reference: an
    incremental run adds the rows after the source's watermark to it (mlwright/features/incremental.py).
    Written with the watermark, in one transaction, by the run's last step."""

    __tablename__ = "source_window"
    __table_args__ = (UniqueConstraint("feature_set", "source", name="uq_source_window"),)

    id: int | None = Field(default=None, primary_key=True)
    feature_set: str = Field(max_length=64)
    source: str = Field(max_length=64)
    run_date: str = Field(description="Date of the run whose windows the table holds; serves later dates only.")
    watermark: str = Field(description="The source's watermark when the table was consumed (ISO timestamp).")
    table: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, description="DatasetRef of the table.")
    run_key: str
    updated_at: datetime = _timestamp()
