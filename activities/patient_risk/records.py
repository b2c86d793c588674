"""Steps 22-23: the run's lineage and its metrics, both keyed by the run."""

from __future__ import annotations

from temporalio import activity

from activities.patient_risk.deps import PatientRiskDeps
from mlwright.contracts import patient_risk as c
from mlwright.steps.patient_risk import BY_NAME
from mlwright.store import runs
from mlwright.store.db import session_scope

PIPELINE = "PatientRiskPipeline"


class RecordActivities:
    def __init__(self, deps: PatientRiskDeps) -> None:
        self.deps = deps

    @BY_NAME["record_lineage"].defn
    def record_lineage(self, inp: c.LineageInput) -> c.Recorded:
        """Inputs (every source table's hash and rows), model versions, outputs, row counts."""
        inputs = {f"{s.source}.{name}": {"sha256": ref.artifact.sha256, "rows": ref.rows}
                  for s in inp.snapshots for name, ref in s.tables.items()}
        outputs = {"features": {"sha256": inp.features.data.artifact.sha256, "rows": inp.features.patients},
                   "risk": {"sha256": inp.risk.data.artifact.sha256, "rows": inp.risk.data.rows,
                            "tiers": inp.risk.tiers, "rule_overrides": inp.risk.overrides},
                   **{w.target: {"rows": w.rows, "checksum": w.checksum} for w in inp.writes},
                   "alerts": inp.alerts.model_dump() if inp.alerts else None}
        key = inp.run.key("lineage")
        with session_scope(self.deps.base.engine) as session:
            runs.record_lineage(session, run_key=key, pipeline=PIPELINE, run_date=inp.run.run_date, inputs=inputs,
                                models=inp.risk.model_versions, outputs=outputs)
        return c.Recorded(key=key)

    @BY_NAME["publish_run_metrics"].defn
    def publish_run_metrics(self, inp: c.MetricsInput) -> c.Recorded:
        """Per-step durations and attempts, patients and tiers, as metric rows of the run."""
        values = {"patients": float(inp.patients), **{f"tier_{k}": float(v) for k, v in inp.tiers.items()}}
        for s in inp.steps:
            if s.duration_s is not None:
                values[f"step_{s.number:02d}_{s.name}_seconds"] = s.duration_s
            values[f"step_{s.number:02d}_{s.name}_attempts"] = float(s.attempts)
        key = inp.run.key("metrics")
        with session_scope(self.deps.base.engine) as session:
            runs.record_metrics(session, run_key=key, pipeline=PIPELINE, run_date=inp.run.run_date, values=values)
        activity.logger.info("run metrics: %s patients, tiers %s", inp.patients, inp.tiers)
        return c.Recorded(key=key)
