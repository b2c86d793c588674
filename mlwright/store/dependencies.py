"""Declared cross-pipeline dependencies (`[[dependency]]` in the schedules file), as applied.

Written by `mlwright schedules apply`; read by the `find_downstream` step when an upstream run
completes. The table lives in its own module and creates itself, so the store's other tables
are untouched.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from mlwright.schedule_file import DependencySpec


class PipelineDependency(SQLModel, table=True):
    __tablename__ = "pipeline_dependency"
    __table_args__ = (UniqueConstraint("upstream", "downstream"),)

    id: int | None = Field(default=None, primary_key=True)
    upstream: str = Field(index=True)
    downstream: str
    input_json: str = "{}"
    spec_hash: str

    @property
    def input(self) -> dict[str, Any]:
        return json.loads(self.input_json)


def _ensure(session: Session) -> None:
    PipelineDependency.__table__.create(session.connection(), checkfirst=True)


def upsert(session: Session, *, spec: DependencySpec) -> str:
    """created | updated | unchanged."""
    _ensure(session)
    row = session.exec(select(PipelineDependency).where(
        PipelineDependency.upstream == spec.upstream, PipelineDependency.downstream == spec.downstream)).first()
    wanted = spec.spec_hash()
    if row is not None and row.spec_hash == wanted:
        return "unchanged"
    result = "created" if row is None else "updated"
    row = row or PipelineDependency(upstream=spec.upstream, downstream=spec.downstream, spec_hash=wanted)
    row.input_json, row.spec_hash = json.dumps(spec.input, sort_keys=True), wanted
    session.add(row)
    return result


def delete_except(session: Session, *, keep: set[tuple[str, str]]) -> list[str]:
    _ensure(session)
    gone = []
    for row in session.exec(select(PipelineDependency)).all():
        if (row.upstream, row.downstream) not in keep:
            gone.append(f"{row.upstream} -> {row.downstream}")
            session.delete(row)
    return gone


def downstream_of(session: Session, *, upstream: str) -> list[DependencySpec]:
    _ensure(session)
    rows = session.exec(select(PipelineDependency).where(PipelineDependency.upstream == upstream)
                        .order_by(PipelineDependency.downstream)).all()
    return [DependencySpec(upstream=r.upstream, downstream=r.downstream, input=r.input) for r in rows]


def all_dependencies(session: Session) -> list[DependencySpec]:
    _ensure(session)
    rows = session.exec(select(PipelineDependency).order_by(PipelineDependency.upstream,
                                                            PipelineDependency.downstream)).all()
    return [DependencySpec(upstream=r.upstream, downstream=r.downstream, input=r.input) for r in rows]
