"""Seeded runs for the report tests, with every figure computed by hand in the comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from mlwright.reporting.figures import RunFact
from mlwright.store.db import session_scope
from mlwright.store.tables import AlertRecord

P = "PatientRiskPipeline"
DAY = datetime(2026, 11, 26, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute)


# r1, r2 succeed; r3 fails at step 14, pages at 12:05, is resumed by retry_step at 12:20 and
# completes at 12:30; r4 pages at 13:05 and is aborted at 13:10; r5 still runs.
RUNS = [
    RunFact(P, "r1", "x1", "completed", at(10), at(10, 10)),
    RunFact(P, "r2", "x2", "completed", at(11), at(11, 20)),
    RunFact(P, "r3", "x3", "completed", at(12), at(12, 30), actions=(("retry_step", at(12, 20)),)),
    RunFact(P, "r4", "x4", "aborted", at(13), at(13, 10), actions=(("abort", at(13, 10)),)),
    RunFact(P, "r5", "x5", "running", at(14)),
]
# (workflow, step, attempt, queue, wall, cpu, peak MB, outcome, cost)
LEDGER = [
    ("r1", "extract_ehr", 1, "t-io", 10, 1, 50, "completed", 0.01),
    ("r1", "model_deterioration", 1, "t-cpu", 20, 18, 300, "completed", 0.05),
    ("r2", "extract_ehr", 1, "t-io", 30, 3, 60, "completed", 0.03),
    ("r2", "model_deterioration", 1, "t-cpu", 40, 36, 400, "completed", 0.07),
    ("r3", "model_deterioration", 1, "t-cpu", 5, 1, 100, "failed", 0.01),
    ("r3", "model_deterioration", 2, "t-cpu", 60, 54, 700, "completed", 0.09),
]
EXPECTED = {
    "runs": 5, "finished": 4, "completed": 3,
    "success_rate": 3 / 4,
    "mttr_min": 25.0,  # r3 only: 12:30 − 12:05 (r4 paged but never completed)
    "manual_intervention_rate": 2 / 4,  # r3 (retry_step), r4 (abort)
    "p50_s": 600.0, "p95_s": 1800.0,  # durations 600, 600, 1200, 1800: 2nd and 4th
    "cost_per_run": (0.06 + 0.10 + 0.10) / 3,
}
EXPECTED_STEPS = {
    # walls 10, 30 → p50 1st, p95 2nd; CPU 4/40; 8 io slots × 60 MB = 480 MB
    "extract_ehr": {"attempts": 2, "p50_s": 10, "p95_s": 30, "cost_per_run": 0.04 / 2, "peak_rss_mb": 60,
                    "cpu_share": 0.1, "concurrency": 8, "recommendation": "fits"},
    # walls 5, 20, 40, 60 → 2nd, 4th; CPU 109/125; 2 cpu slots × 700 MB = 1400 MB > 1024
    "model_deterioration": {"attempts": 4, "p50_s": 20, "p95_s": 60, "cost_per_run": 0.22 / 3, "peak_rss_mb": 700,
                            "cpu_share": 109 / 125, "concurrency": 2,
                            "recommendation": "2 slots × 700 MB peak = 1400 MB: lower cpu_concurrency to 1"},
}

LEDGER_DDL = """CREATE TABLE IF NOT EXISTS step_ledger (id INTEGER PRIMARY KEY, pipeline TEXT, workflow_id TEXT,
run_id TEXT, step TEXT, activity_id TEXT, attempt INTEGER, queue TEXT, resource TEXT, started_at DATETIME, ended_at DATETIME, wall_s FLOAT,
cpu_s FLOAT, peak_rss_delta_mb FLOAT, rows_in INTEGER, rows_out INTEGER, outcome TEXT, error_type TEXT,
cost FLOAT, team TEXT, project TEXT)"""


def seed_store(engine) -> None:
    with session_scope(engine) as session:
        for key, kind, sev, wf, when, sent in [
            ("r3/page", "step_failed", "critical", "r3", at(12, 5), True),
            ("r3/page/resolved", "step_resolved", "critical", "r3", at(12, 30), True),
            ("r4/page", "step_failed", "critical", "r4", at(13, 5), True),
            ("note", "notice", "info", None, at(12), False),
        ]:
            session.add(AlertRecord(dedup_key=key, severity=sev, kind=kind, run_date="2026-11-26",
                                    payload={"workflow_id": wf} if wf else {}, created_at=when,
                                    sent_at=when if sent else None))
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text(LEDGER_DDL))
        start = {"r1": at(10), "r2": at(11), "r3": at(12)}
        for wf, step, attempt, queue, wall, cpu, rss, outcome, cost in LEDGER:
            began = start[wf] + timedelta(minutes=attempt)
            conn.execute(text(
                "INSERT INTO step_ledger (pipeline, workflow_id, run_id, step, activity_id, attempt, queue, resource, "
                "started_at, ended_at, wall_s, cpu_s, peak_rss_delta_mb, outcome, cost) VALUES (:p, :wf, :run, :step, "
                ":activity, :attempt, :queue, :resource, :start, :end, :wall, :cpu, :rss, :outcome, :cost)"),
                {"p": P, "wf": wf, "run": f"x{wf[1:]}", "step": step, "activity": f"{step}-1", "attempt": attempt,
                 "queue": queue, "resource": queue.removeprefix("t-"),
                 "start": began.replace(tzinfo=None).isoformat(sep=" "),
                 "end": (began + timedelta(seconds=wall)).replace(tzinfo=None).isoformat(sep=" "),
                 "wall": wall, "cpu": cpu, "rss": rss, "outcome": outcome, "cost": cost})
