"""Tables of the RetrainingMonitor: one row per cycle (its figures) and one per child retrain.

Natural keys (monitor, cycle) and child workflow id are unique, so a retried record step updates
its row instead of adding a second.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from mlwright.store.tables import utcnow


class MonitorCycle(SQLModel, table=True):
    __tablename__ = "monitor_cycle"
    __table_args__ = (UniqueConstraint("monitor_id", "cycle", name="uq_monitor_cycle"),)

    id: int | None = Field(default=None, primary_key=True)
    monitor_id: str = Field(index=True, max_length=200)
    model_name: str = Field(index=True, max_length=64)
    cycle: int
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    metric: str
    value: float | None = None
    outcomes: int
    predictions: int
    drift_level: str
    degraded: bool
    action: str
    child_id: str | None = None
    figures: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class MonitorChild(SQLModel, table=True):
    __tablename__ = "monitor_child"

    id: int | None = Field(default=None, primary_key=True)
    child_id: str = Field(unique=True, max_length=250)
    monitor_id: str = Field(index=True, max_length=200)
    cycle: int
    outcome: str | None = None
    decision: str | None = None
    version: int | None = None
    reason: str = ""
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


def upsert_cycle(session: Session, monitor_id: str, model_name: str, figures: dict[str, Any]) -> None:
    row = session.exec(select(MonitorCycle).where(MonitorCycle.monitor_id == monitor_id,
                                                  MonitorCycle.cycle == figures["cycle"])).first()
    row = row or MonitorCycle(monitor_id=monitor_id, model_name=model_name, cycle=figures["cycle"], at=figures["at"],
                              metric="", outcomes=0, predictions=0, drift_level="", degraded=False, action="")
    for key in ("at", "metric", "value", "outcomes", "predictions", "drift_level", "degraded", "action", "child_id"):
        setattr(row, key, figures[key])
    row.figures = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in figures.items()}
    session.add(row)


def upsert_child(session: Session, monitor_id: str, child: dict[str, Any]) -> None:
    row = session.exec(select(MonitorChild).where(MonitorChild.child_id == child["workflow_id"])).first()
    row = row or MonitorChild(child_id=child["workflow_id"], monitor_id=monitor_id, cycle=child["cycle"])
    for key in ("outcome", "decision", "version", "reason"):
        setattr(row, key, child[key])
    row.updated_at = utcnow()
    session.add(row)


def cycles(session: Session, monitor_id: str) -> list[MonitorCycle]:
    return list(session.exec(select(MonitorCycle).where(MonitorCycle.monitor_id == monitor_id)
                             .order_by(MonitorCycle.cycle)))


def children(session: Session, monitor_id: str) -> list[MonitorChild]:
    return list(session.exec(select(MonitorChild).where(MonitorChild.monitor_id == monitor_id)
                             .order_by(MonitorChild.cycle)))
