"""The step ledger: one row per activity attempt, with what it measured and what it cost.

The natural key is (workflow_id, run_id, activity_id, attempt): a step resumed by ``retry_step``
is a new activity of the same step whose attempts count from 1 again, so the step name alone
would merge two executions. Writing a row twice (a retried write, a redelivered batch) keeps the
first: ``INSERT ... ON CONFLICT DO NOTHING`` in one statement, so racing writers cannot duplicate.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Engine, UniqueConstraint
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, select

OUTCOMES = ("completed", "failed", "cancelled")


class StepLedger(SQLModel, table=True):
    # Indexes: the unique key (it leads with workflow_id: a run's rows) and started_at (a report's
    # window). Every index is one more page written per attempt: with six secondary indexes a row
    # cost 39 KiB of SQLite WAL and 0.66 ms mean, with started_at alone 16 KiB and 0.23 ms
    # (bench/README.md). Databases created earlier keep their extra indexes.
    __tablename__ = "step_ledger"
    __table_args__ = (UniqueConstraint("workflow_id", "run_id", "activity_id", "attempt", name="uq_step_ledger"),)

    id: int | None = Field(default=None, primary_key=True)
    pipeline: str = Field(description="Workflow type.")
    workflow_id: str
    run_id: str
    step: str
    activity_id: str
    attempt: int
    queue: str
    resource: str = Field(description="Resource class of the queue (io, cpu, training).")
    started_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    ended_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    wall_s: float
    cpu_s: float = Field(description="CPU time of the thread that ran the attempt.")
    peak_rss_delta_mb: float = Field(description="How far the attempt raised the process's peak RSS.")
    rows_in: int | None = None
    rows_out: int | None = None
    outcome: str = Field(description="completed, failed or cancelled.")
    error_type: str | None = None
    cost: float = Field(0.0, description="cpu_s x CPU-hour price + peak RSS GB x wall hours x GB-hour price.")
    team: str | None = None
    project: str | None = None


_KEY = ["workflow_id", "run_id", "activity_id", "attempt"]
COLUMNS = [c.name for c in StepLedger.__table__.columns if c.name != "id"]  # what a row gives


def record(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (StepLedger fields), skipping any whose key is already there."""
    if not rows:
        return
    with engine.begin() as connection:
        connection.execute(insert_statement(engine.dialect.name), rows)


@functools.cache
def insert_statement(dialect_name: str):  # type: ignore[no-untyped-def]
    # Built once: a new statement object per write costs its cache-key traversal again (88 against
    # 64 us a write, bench/hot_path.py).
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(StepLedger.__table__).on_conflict_do_nothing(index_elements=_KEY)


def rows_for(engine: Engine, workflow_id: str, run_id: str | None = None) -> list[StepLedger]:
    with Session(engine) as session:
        query = select(StepLedger).where(StepLedger.workflow_id == workflow_id)
        if run_id:
            query = query.where(StepLedger.run_id == run_id)
        return list(session.exec(query.order_by(StepLedger.started_at, StepLedger.attempt)))


def rows_between(engine: Engine, since: datetime, until: datetime | None = None,
                 pipeline: str | None = None) -> list[StepLedger]:
    """Attempts that started in [since, until), optionally of one pipeline (what a report reads)."""
    with Session(engine) as session:
        query = select(StepLedger).where(StepLedger.started_at >= since)
        if until is not None:
            query = query.where(StepLedger.started_at < until)
        if pipeline:
            query = query.where(StepLedger.pipeline == pipeline)
        return list(session.exec(query.order_by(StepLedger.started_at, StepLedger.id)))


def cost(resource: str, cpu_s: float, wall_s: float, peak_rss_delta_mb: float,
         cpu_hour_price: dict[str, float], gb_hour_price: dict[str, float]) -> float:
    return (cpu_s / 3600 * cpu_hour_price.get(resource, 0.0)
            + peak_rss_delta_mb / 1024 * wall_s / 3600 * gb_hour_price.get(resource, 0.0))
