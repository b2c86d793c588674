"""Run records of the patient-risk pipeline: alerts, lineage, metrics, feature statistics.

All writes are keyed (dedup key, run key): repeating one returns the first row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, select

from mlwright.store.tables import AlertRecord, FeatureStats, RunLineage, RunMetric, utcnow

_IN_CHUNK = 500  # keys per IN (...) list: well under every database's bound-parameter limit


def claim_alerts(session: Session, *, kind: str, run_date: str | None,
                 wanted: list[tuple[str, str, dict[str, Any]]]) -> list[AlertRecord]:
    """Rows for many (dedup_key, severity, payload) at once, creating the missing ones unsent."""
    keys = [key for key, _, _ in wanted]
    existing = {k for chunk in _chunks(keys) for k in session.exec(select(AlertRecord.dedup_key)
                                                                   .where(AlertRecord.dedup_key.in_(chunk)))}
    now = utcnow()
    new = [{"dedup_key": k, "severity": sev, "kind": kind, "run_date": run_date, "payload": p, "created_at": now}
           for k, sev, p in wanted if k not in existing]
    if new:
        # One executemany: building and validating an ORM object per alert took longer than the
        # deliveries themselves at 40k alerts.
        session.execute(insert(AlertRecord), new)
    found = {r.dedup_key: r for chunk in _chunks(keys)
             for r in session.exec(select(AlertRecord).where(AlertRecord.dedup_key.in_(chunk)))}
    return [found[k] for k in keys]


def _chunks(keys: list[str]) -> list[list[str]]:
    return [keys[start:start + _IN_CHUNK] for start in range(0, len(keys), _IN_CHUNK)]


def mark_sent(session: Session, *, dedup_keys: list[str]) -> None:
    now = utcnow()
    for start in range(0, len(dedup_keys), _IN_CHUNK):
        session.exec(update(AlertRecord).where(AlertRecord.dedup_key.in_(dedup_keys[start:start + _IN_CHUNK]))
                     .values(sent_at=now))


def alerts_for(session: Session, *, run_date: str, kind: str | None = None) -> list[AlertRecord]:
    query = select(AlertRecord).where(AlertRecord.run_date == run_date)
    if kind:
        query = query.where(AlertRecord.kind == kind)
    return list(session.exec(query.order_by(AlertRecord.id)))


def record_lineage(session: Session, *, run_key: str, pipeline: str, run_date: str, inputs: dict, models: dict,
                   outputs: dict) -> RunLineage:
    row = session.exec(select(RunLineage).where(RunLineage.run_key == run_key)).first()
    if row is None:
        row = RunLineage(run_key=run_key, pipeline=pipeline, run_date=run_date, inputs=inputs, models=models,
                         outputs=outputs)
        session.add(row)
        session.flush()
    return row


def record_metrics(session: Session, *, run_key: str, pipeline: str, run_date: str, values: dict[str, float]) -> int:
    have = {m.name for m in session.exec(select(RunMetric).where(RunMetric.run_key == run_key))}
    for name, value in values.items():
        if name not in have:
            session.add(RunMetric(run_key=run_key, pipeline=pipeline, run_date=run_date, name=name, value=value))
    return len(values)


def save_feature_stats(session: Session, *, run_key: str, run_date: str, stats: dict) -> None:
    if session.exec(select(FeatureStats).where(FeatureStats.run_key == run_key)).first() is None:
        session.add(FeatureStats(run_key=run_key, run_date=run_date, stats=stats))


def set_mean_score(session: Session, *, run_key: str, mean_score: float) -> None:
    row = session.exec(select(FeatureStats).where(FeatureStats.run_key == run_key)).first()
    if row is not None:
        row.mean_score = mean_score
        session.add(row)


def previous_stats(session: Session, *, run_date: str, run_key: str) -> FeatureStats | None:
    """The latest other run's statistics on or before ``run_date``."""
    return session.exec(
        select(FeatureStats).where(FeatureStats.run_date <= run_date, FeatureStats.run_key != run_key)
        .order_by(FeatureStats.run_date.desc(), FeatureStats.id.desc())
    ).first()
