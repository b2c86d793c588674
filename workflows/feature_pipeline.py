"""FeaturePipeline: sources → features → offline and online stores → statistics → drift → alert.

Steps pass references (artifact refs, paths, counts), never feature values. A step that fails
after its retries fails the run (nothing downstream is started); every step is idempotent per
(feature set, run date), so starting the run again for the date writes nothing twice and a drift
alert already sent is not sent again. On completion, pipelines declared downstream of
FeaturePipeline for the date (``[[dependency]]``) are started with the run's summary.

Without ``run_date`` the run computes its scheduled day (a Schedule's TemporalScheduledStartTime),
else the day it started: both come from the history, so replay is deterministic.
"""

from __future__ import annotations

from datetime import date

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from mlwright.contracts import feature_pipeline as c
    from mlwright.steps import feature_pipeline as s

from workflows._downstream import start_downstream
from workflows._steps import parse_input, queues_for_this_run, run_step
from workflows._visibility import RunAttributes

WATERMARK_PATCH = "mlwright-feature-watermark"
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


def _default_run_date() -> date:
    info = workflow.info()
    scheduled = info.typed_search_attributes.get(SCHEDULED_START)
    return (scheduled or info.start_time).date()


@workflow.defn(name="FeaturePipeline")
class FeaturePipeline:
    def __init__(self) -> None:
        self._visible = RunAttributes("FeaturePipeline")
        self._state = {step.name: "pending" for step in s.STEPS}
        self._run_date = ""
        self._feature_set = ""
        self._finished = False

    @workflow.run
    async def run(self, *raw: object) -> c.FeaturePipelineResult:
        """Input: FeaturePipelineInput as JSON (every field optional)."""
        try:
            return await self._pipeline(raw)
        except Exception:
            self._visible.set(state="failed", step=self._current())
            raise

    async def _pipeline(self, raw: tuple[object, ...]) -> c.FeaturePipelineResult:
        inp = parse_input(raw, c.FeaturePipelineInput, "FeaturePipeline")
        run_date = inp.run_date or _default_run_date()
        self._run_date, self._feature_set = run_date.isoformat(), inp.feature_set
        self._visible.start(run_date=run_date)
        info = workflow.info()
        run = c.FeatureRun(workflow_id=info.workflow_id, run_id=info.first_execution_run_id,
                           run_date=self._run_date, feature_set=inp.feature_set, backfill=inp.backfill)
        self._queues = queues_for_this_run()

        extracted = await self._step(s.EXTRACT, c.FeatureStepInput(run=run))
        clean = await self._step(s.VALIDATE, c.TablesInput(run=run, sources=extracted))
        features = await self._step(s.COMPUTE_FEATURES, c.TablesInput(run=run, sources=clean))
        frame = c.FrameInput(run=run, features=features)
        await self._step(s.CHECK, frame)
        written = await self._step(s.OFFLINE, frame)
        online = await self._step(s.ONLINE, frame)
        summary = await self._step(s.STATS, frame)
        drift = await self._step(s.DRIFT, c.DriftInput(
            run=run, reference_date=inp.reference_date.isoformat() if inp.reference_date else None,
            reference_model=inp.reference_model))
        alert = await self._step(s.ALERT, c.DriftAlertInput(run=run, drift=drift))
        advanced: list[str] = []
        # Histories from before the watermark step replay without it.
        if workflow.patched(WATERMARK_PATCH) and not inp.backfill:
            advanced = (await self._step(s.WATERMARK, c.WatermarkInput(run=run, sources=extracted))).advanced
        else:
            self._state[s.WATERMARK.name] = "skipped"

        await start_downstream("FeaturePipeline", run_date, self._queues, {
            "feature_set": inp.feature_set, "entities": features.entities, "offline_partition": written.target,
            "drift_level": drift.level})
        self._finished = True
        self._visible.set(state="completed", step=None)
        return c.FeaturePipelineResult(
            run_date=self._run_date, feature_set=inp.feature_set, source_rows=clean.rows,
            entities=features.entities, features=features.features, offline_rows=written.rows,
            offline_partition=written.target, online_rows=online.rows, stats_features=summary.features,
            drift_level=drift.level, reference_date=drift.reference_date, reference=drift.reference, drifted=drift.drifted,
            report=drift.report, alerts_sent=alert.sent, source_read=extracted.read,
            read_after=extracted.read_after, watermarks_advanced=advanced)

    async def _step(self, step, arg):
        self._state[step.name] = "running"
        self._visible.set(state="running", step=step.name)
        result = await run_step(step, arg, self._queues)
        self._state[step.name] = "completed"
        return result

    def _current(self) -> str | None:
        return next((name for name, state in self._state.items() if state == "running"), None)

    @workflow.query
    def progress(self) -> c.FeatureProgress:
        """Every step in order with its state."""
        return c.FeatureProgress(run_date=self._run_date, feature_set=self._feature_set,
                                 state="completed" if self._finished else "running",
                                 steps=[c.StepStatus(name=n, state=st) for n, st in self._state.items()])
