"""Facts for the report: runs and operator actions from Temporal (visibility and each run's
history: retry_step / skip_step / abort are accepted updates), alerts and the step ledger from
mlwright's store."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, inspect, text
from sqlmodel import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from mlwright.reporting.figures import OPERATOR_ACTIONS, AlertFact, Attempt, RunFact
from mlwright.store.db import session_scope
from mlwright.store.tables import AlertRecord

LEDGER = "step_ledger"
_STATUS = {"COMPLETED": "completed", "FAILED": "failed", "CANCELED": "canceled", "TERMINATED": "terminated",
           "TIMED_OUT": "timed_out", "RUNNING": "running", "CONTINUED_AS_NEW": "completed"}


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def load_runs(client: Client, since: datetime, pipeline: str | None = None,
                    limit: int = 2000) -> list[RunFact]:
    query = f'StartTime >= "{since.astimezone(UTC).isoformat().replace("+00:00", "Z")}"'
    if pipeline:
        if not pipeline.isidentifier():
            raise ValueError(f"--pipeline: {pipeline!r} is not a workflow type name")
        query += f' AND WorkflowType = "{pipeline}"'
    facts = []
    async for wf in client.list_workflows(query, limit=limit):
        actions = []
        async for event in client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                name = event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
                if name in OPERATOR_ACTIONS:
                    actions.append((name, _utc(event.event_time.ToDatetime())))
        status = _STATUS.get(wf.status.name if wf.status else "RUNNING", "running")
        if status == "failed" and any(kind == "abort" for kind, _ in actions):
            status = "aborted"
        facts.append(RunFact(pipeline=wf.workflow_type, workflow_id=wf.id, run_id=wf.run_id, status=status,
                             started_at=_utc(wf.start_time), ended_at=_utc(wf.close_time) if wf.close_time else None,
                             actions=tuple(actions)))
    return facts


def load_alerts(engine: Engine, since: datetime) -> list[AlertFact]:
    with session_scope(engine) as session:
        rows = session.exec(select(AlertRecord).where(AlertRecord.created_at >= since)).all()
        return [AlertFact(kind=r.kind, severity=r.severity, workflow_id=(r.payload or {}).get("workflow_id"),
                          created_at=_utc(r.created_at), sent=r.sent_at is not None) for r in rows]


def load_attempts(engine: Engine, since: datetime, pipeline: str | None = None) -> list[Attempt]:
    """Ledger rows (written by the workers' step ledger); none when no ledger was kept yet."""
    if not inspect(engine).has_table(LEDGER):
        return []
    columns = {c["name"] for c in inspect(engine).get_columns(LEDGER)}
    resource = "resource" if "resource" in columns else "'' AS resource"
    sql = ("SELECT pipeline, workflow_id, run_id, step, attempt, queue, wall_s, cpu_s, peak_rss_delta_mb, outcome, "
           f"cost, {resource} FROM {LEDGER} WHERE started_at >= :since" + (" AND pipeline = :pipeline" if pipeline else "")
           + " ORDER BY started_at")
    bound: datetime | str = since
    if engine.dialect.name == "sqlite":  # SQLAlchemy keeps SQLite datetimes as naive UTC text
        bound = since.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    with engine.connect() as conn:
        rows = conn.execute(text(sql), {"since": bound, "pipeline": pipeline}).mappings().all()
    return [Attempt(pipeline=r["pipeline"], workflow_id=r["workflow_id"], run_id=r["run_id"] or "", step=r["step"],
                    attempt=int(r["attempt"]), queue=r["queue"] or "", wall_s=float(r["wall_s"] or 0),
                    cpu_s=float(r["cpu_s"] or 0), peak_rss_delta_mb=float(r["peak_rss_delta_mb"] or 0),
                    outcome=r["outcome"] or "", cost=float(r["cost"] or 0), resource=r["resource"] or "")
            for r in rows]
