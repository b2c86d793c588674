"""Step-ledger writes: idempotent per attempt, and read by window, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, func, select

from mlwright.store import ledger
from mlwright.store.ledger import StepLedger


def _now():
    return datetime.now(UTC)


def test_a_repeated_write_adds_no_row_and_keeps_the_first(engine):
    row = {"pipeline": "P", "workflow_id": "w", "run_id": "r", "step": "s", "activity_id": "1", "attempt": 1,
           "queue": "q", "resource": "cpu", "started_at": _now(), "ended_at": _now(), "wall_s": 1.0, "cpu_s": 0.5,
           "peak_rss_delta_mb": 0.0, "outcome": "completed", "cost": 0.0}
    ledger.record(engine, [row])
    ledger.record(engine, [row, {**row, "wall_s": 9.0}])
    ledger.record(engine, [{**row, "attempt": 2, "outcome": "failed"}])
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(StepLedger)).one() == 2
    assert [(r.attempt, r.wall_s) for r in ledger.rows_for(engine, "w")] == [(1, 1.0), (2, 1.0)]


def test_rows_between_selects_by_start_time_and_pipeline(engine):
    from datetime import timedelta

    t0 = _now()
    base = {"run_id": "r", "step": "s", "activity_id": "1", "attempt": 1, "queue": "q", "resource": "cpu",
            "wall_s": 1.0, "cpu_s": 0.5, "peak_rss_delta_mb": 0.0, "outcome": "completed", "cost": 0.0}
    ledger.record(engine, [
        {**base, "pipeline": p, "workflow_id": f"{p}-{h}", "started_at": t0 + timedelta(hours=h),
         "ended_at": t0 + timedelta(hours=h)} for p in ("A", "B") for h in (0, 1, 2)])
    window = ledger.rows_between(engine, t0 + timedelta(minutes=30), t0 + timedelta(hours=2), pipeline="A")
    assert [r.workflow_id for r in window] == ["A-1"]
    assert len(ledger.rows_between(engine, t0)) == 6
