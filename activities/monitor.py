"""Activities of the RetrainingMonitor: evaluate a cycle, record it, check on the retrain child."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from activities.deps import ActivityDeps
from mlwright.contracts import monitor as c
from mlwright.contracts.training import TrainingResult
from mlwright.ml import drift
from mlwright.monitoring import stream
from mlwright.monitoring.performance import metric_name, performance
from mlwright.steps import monitor as steps
from mlwright.store.db import session_scope
from mlwright.store.monitor import upsert_child, upsert_cycle

_LEVEL_RANK = {"none": 0, "warning": 1, "critical": 2, "never": 3}


class MonitorActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @steps.EVALUATE.defn
    def evaluate_monitor_cycle(self, inp: c.EvaluateCycleInput) -> c.CycleFigures:
        """Drift of this cycle's predictions against the training population; performance on the
        outcomes that arrived this cycle. Read-only (the stream is a pure function of the cycle)."""
        t = inp.thresholds
        made = stream.predictions(inp.stream, inp.cycle)
        arrived = stream.outcomes_arrived(inp.stream, inp.cycle)
        earlier = stream.predictions(inp.stream, inp.cycle - inp.stream.outcome_delay_cycles) if len(arrived) else made
        joined = earlier.merge(arrived, on="prediction_id") if len(arrived) else earlier.iloc[0:0]
        figures = performance(inp.task, joined)
        metric = metric_name(inp.task)
        value = figures.get(metric) if len(joined) >= t.min_outcomes else None
        reasons: list[str] = []
        if value is not None and metric == "roc_auc" and value < t.min_roc_auc:
            reasons.append(f"roc_auc {value:.3f} < {t.min_roc_auc}")
        if value is not None and metric == "roc_auc" and figures.get("accuracy", 1.0) < t.min_accuracy:
            reasons.append(f"accuracy {figures['accuracy']:.3f} < {t.min_accuracy}")
        if value is not None and metric == "rmse" and t.max_rmse is not None and value > t.max_rmse:
            reasons.append(f"rmse {value:.3f} > {t.max_rmse}")
        result = drift.compare(stream.reference(inp.stream), made[stream.FEATURES], features=stream.FEATURES)
        level = str(result.level)
        drifted = [f.feature for f in result.features if str(f.level) != "none"]
        if _LEVEL_RANK[level] >= _LEVEL_RANK[t.drift_level]:
            reasons.append(f"feature drift {level}: {', '.join(drifted)}")
        return c.CycleFigures(cycle=inp.cycle, at=activity.info().current_attempt_scheduled_time,
                              predictions=len(made), outcomes=len(joined), metric=metric, value=value,
                              drift_level=level, drifted_features=drifted, degraded=bool(reasons), reasons=reasons)

    @steps.RECORD.defn
    def record_monitor_cycle(self, inp: c.RecordCycleInput) -> c.Recorded:
        """Upsert the cycle row (and the child row when it changed): a retry writes nothing twice."""
        with session_scope(self.deps.engine) as session:
            upsert_cycle(session, inp.monitor_id, inp.model_name, inp.figures.model_dump())
            if inp.child is not None:
                upsert_child(session, inp.monitor_id, inp.child.model_dump())
        return c.Recorded(cycle=inp.figures.cycle)

    @activity.defn(name=steps.POLL_CHILD.name, no_thread_cancel_exception=True)
    async def poll_training_child(self, inp: c.PollChildInput) -> c.ChildRun:
        """The child as the service sees it now; an outcome once it has closed.

        An activity, not the child handle: after continue-as-new the monitor's new run holds no
        handle to a child its earlier run started, but it can always ask the service by id.
        """
        child = inp.child
        handle = activity.client().get_workflow_handle(child.workflow_id, result_type=TrainingResult)
        try:
            described = await handle.describe()
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                return child.model_copy(update={"outcome": "failed", "reason": "child not found"})
            raise
        if described.status == WorkflowExecutionStatus.RUNNING:
            return child
        ended = described.close_time
        if described.status != WorkflowExecutionStatus.COMPLETED:
            name = described.status.name.lower() if described.status else "closed"
            return child.model_copy(update={"outcome": "failed", "reason": f"child {name}", "ended_at": ended})
        try:
            result = await handle.result(follow_runs=False)
        except WorkflowFailureError as e:
            return child.model_copy(update={"outcome": "failed", "reason": str(e.cause or e)[:200],
                                            "ended_at": ended})
        outcome = "promoted" if result.decision == "promoted" else "rejected"
        return child.model_copy(update={"outcome": outcome, "decision": result.decision, "version": result.version,
                                        "reason": result.reason[:200], "ended_at": ended})
