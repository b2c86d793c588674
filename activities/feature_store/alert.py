"""FeaturePipeline step 9: the drift alert, through patient-risk's alert routes and store.

One alert per (feature set, run date): its dedup key has a row in the store and is marked sent
after delivery, so retries and second runs for the date send nothing again (see
``activities.patient_risk.notify``). It names features and statistics' levels, never values."""

from __future__ import annotations

from activities.patient_risk.deps import PatientRiskDeps
from activities.patient_risk.notify import NotifyActivities
from mlwright.contracts import feature_pipeline as c
from mlwright.steps import feature_pipeline as s

KIND = "feature_drift"


class FeatureAlertActivities:
    def __init__(self, deps: PatientRiskDeps, notify: NotifyActivities | None = None) -> None:
        self.deps = deps
        self.notify = notify or NotifyActivities(deps)

    @s.ALERT.defn
    def features_drift_alert(self, inp: c.DriftAlertInput) -> c.DriftAlertResult:
        drift = inp.drift
        if drift.level == "none":
            return c.DriftAlertResult(sent=0, already_sent=0)
        key = f"features/{inp.run.feature_set}/{inp.run.run_date}/drift"
        payload = {"kind": KIND, "pipeline": "FeaturePipeline", "feature_set": inp.run.feature_set,
                   "run_date": inp.run.run_date, "level": drift.level, "reference_date": drift.reference_date,
                   "drifted": drift.drifted, "critical": drift.critical, "report": drift.report,
                   "run_url": self.deps.settings.run_url(inp.run.workflow_id)}
        sent, already = self.notify._deliver([(key, drift.level, payload)], inp.run.run_date, kind=KIND)
        return c.DriftAlertResult(sent=sent, already_sent=already)
