"""PatientRiskPipeline: 23 durable steps from four source systems to two downstream writes and alerts.

When a step exhausts its retries (or fails non-retryably) the run does not fail: the step is
``paging`` while on-call is paged once, with the exact commands to resume, then
``awaiting_operator`` (its ``page`` says when the page was delivered, or why it could not be), and
the run waits for an operator's Update: ``retry_step``
(re-run that step, optionally with option overrides; new worker code is picked up),
``skip_step`` (only steps marked skippable) or ``abort`` (the run fails with the reason).
Completed steps are never re-run. Query ``progress`` shows all 23 steps.

``abort`` cancels the steps in flight (their activities stop at their next check, see
``mlwright.heartbeat``) and ends the run failed with the reason, whenever it is accepted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from mlwright.contracts import patient_risk as c
    from mlwright.steps.patient_risk import BY_NAME, OPERATOR_ALERT, STEPS

from workflows._downstream import start_downstream
from workflows._steps import parse_input, queues_for_this_run, run_step
from workflows._visibility import RunAttributes

with workflow.unsafe.imports_passed_through():
    from mlwright.queues import QueueSet
    from mlwright.steps import Step

SOURCES = ("ehr", "labs", "claims", "pharmacy")
ABORT_GRACE = timedelta(seconds=1)
# Runs started before abort cancelled steps in flight replay the old way: abort then waited for the
# running step to finish, and an abort during the last step let the run complete.
ABORT_CANCELS_STEPS = "abort-cancels-running-steps"
# Runs started before options were typed read their input as they did (any options), so an option now
# refused cannot fail their replay; their steps still refuse a bad option, naming it.
TYPED_OPTIONS = "typed-step-options"
# Runs recorded before this patch never resolved their pages; replaying them must not start to.
RESOLVE_PAGES = "resolve-page-on-recovery"
# Runs recorded before this patch always computed their features; replaying them must not read the store.
STORE_FEATURES = "features-from-feature-store"
# The store's features were validated with these steps' defaults: a run that changes them computes its own.
STORE_VALIDATION_STEPS = ("validate_ehr", "validate_labs", "validate_claims", "validate_pharmacy")


class _StepState:
    def __init__(self, number: int, name: str, on_change: Callable[[], None]) -> None:
        self.number, self.name = number, name
        self._on_change = on_change
        self._state: c.StepState = "pending"
        self.attempts, self.failures = 0, 0
        self.duration_s: float | None = None
        self.error: str | None = None
        self.page: c.PageDelivery | None = None
        self.page_error = ""  # the failure the page was about, kept for its resolve event

    @property
    def state(self) -> c.StepState:
        return self._state

    @state.setter
    def state(self, value: c.StepState) -> None:
        # Every change reaches the run's search attributes, wherever in the pipeline it happens.
        self._state = value
        self._on_change()

    def public(self) -> c.StepProgress:
        return c.StepProgress(number=self.number, name=self.name, state=self.state, attempts=self.attempts,
                              duration_s=self.duration_s, error=self.error, page=self.page)


@workflow.defn(name="PatientRiskPipeline")
class PatientRiskPipeline:
    def __init__(self) -> None:
        self._visible = RunAttributes("PatientRiskPipeline")
        self._steps = {s.name: _StepState(s.number, s.name, self._publish) for s in STEPS}
        self._decisions: dict[str, c.RetryStep | c.SkipStep] = {}
        self._abort: c.Abort | None = None
        self._options: dict[str, dict[str, Any]] = {}
        self._finished = False
        self._run_date = ""
        self._running: dict[str, workflow.ActivityHandle] = {}
        self._abort_cancels = False
        self._typed_options = True
        self._ending = False

    @workflow.run
    async def run(self, *raw: object) -> c.PatientRiskResult:
        """Input: PatientRiskInput as JSON (only run_date is required)."""
        try:
            return await self._pipeline(raw)
        except (Exception, asyncio.CancelledError) as e:
            ended = ("aborted" if self._abort is not None
                     else "cancelled" if isinstance(e, asyncio.CancelledError) else "failed")
            self._visible.set(state=ended, step=self._current_step())
            raise

    async def _pipeline(self, raw: tuple[object, ...]) -> c.PatientRiskResult:
        typed_options = workflow.patched(TYPED_OPTIONS)
        inp = parse_input(raw, c.PatientRiskInput if typed_options else c.UntypedOptionsInput, "PatientRiskPipeline")
        self._visible.start(run_date=inp.run_date)
        info = workflow.info()
        self._run_date = inp.run_date.isoformat()
        self._run = c.RunRef(workflow_id=info.workflow_id, run_id=info.first_execution_run_id, run_date=self._run_date)
        self._queues = queues_for_this_run()
        self._typed_options = typed_options
        self._options = (inp.options.overrides() if isinstance(inp.options, c.PipelineOptions)
                         else {k: dict(v) for k, v in inp.options.items()})
        self._options.setdefault("write_fhir", {}).setdefault("batch_size", inp.fhir_batch_size)
        self._abort_cancels = workflow.patched(ABORT_CANCELS_STEPS)

        # Each source is its own chain, so one source waiting for an operator holds up no other.
        chains = await asyncio.gather(*(self._source(s) for s in SOURCES))
        snapshots, validated = [snap for snap, _ in chains], [v for _, v in chains]
        merged = await self._step("merge_by_patient", c.MergeInput(run=self._run, sources=list(validated)))
        await self._step("quality_gate", c.MergedInput(run=self._run, merged=merged))
        features = await self._step("compute_features", c.ComputeFeaturesInput(
            run=self._run, merged=merged, store=self._store_features(inp)))
        await self._step("validate_features", c.FeaturesStepInput(run=self._run, features=features))
        scores = None
        for step, name, column in (("model_readmission", inp.models.readmission, "readmission"),
                                   ("model_deterioration", inp.models.deterioration, "deterioration"),
                                   ("model_acuity", inp.models.acuity, "acuity")):
            scores = await self._step(step, c.ScoreInput(run=self._run, features=features, model_name=name,
                                                         column=column, upstream=scores))
        risk = await self._step("apply_business_rules", c.RulesInput(run=self._run, features=features,
                                                                      predictions=scores))
        risk_input = c.RiskInput(run=self._run, risk=risk)
        await self._step("validate_predictions", risk_input)
        writes = await asyncio.gather(self._step("write_care_management", risk_input),
                                      self._step("write_fhir", risk_input))
        await self._step("verify_writes", c.VerifyInput(run=self._run, risk=risk, writes=list(writes)))
        alerts = await self._step("send_alerts", risk_input)
        await self._step("record_lineage", c.LineageInput(run=self._run, snapshots=list(snapshots),
                                                          features=features, risk=risk, writes=list(writes),
                                                          alerts=alerts))
        await self._step("publish_run_metrics", c.MetricsInput(run=self._run, steps=self._public_steps(),
                                                               patients=features.patients, tiers=risk.tiers))
        if self._abort_cancels:
            # An abort accepted while the last step ran (and finished anyway) still ends the run aborted.
            await self._stop_if_aborted()
        self._ending = True  # every step is done: an abort now would undo nothing
        await start_downstream("PatientRiskPipeline", inp.run_date, self._queues, {
            "patients": features.patients, "tiers": risk.tiers, "model_versions": risk.model_versions})
        self._finished = True
        self._publish()
        return c.PatientRiskResult(run_date=self._run_date, state="completed", patients=features.patients,
                                   tiers=risk.tiers, model_versions=risk.model_versions,
                                   alerts_sent=alerts.sent if alerts else 0, steps=self._public_steps())

    def _store_features(self, inp: c.PatientRiskInput) -> c.StoreFeatures | None:
        """The date's features from the offline store when FeaturePipeline, completing for this date,
        started this run (explicit dependency); a run started any other way computes its own."""
        up = inp.upstream
        if up is None or up.workflow_type != "FeaturePipeline" or up.run_date != inp.run_date:
            return None
        if any(self._options.get(step) for step in STORE_VALIDATION_STEPS) or not workflow.patched(STORE_FEATURES):
            return None
        return c.StoreFeatures(feature_set=up.result.get("feature_set", "patient_risk"),
                               upstream_workflow_id=up.workflow_id)

    async def _source(self, source: str) -> tuple[c.SourceSnapshot, c.ValidatedSource]:
        snapshot = await self._step(f"extract_{source}", c.StepInput(run=self._run))
        return snapshot, await self._step(f"validate_{source}", c.ValidateSourceInput(run=self._run, snapshot=snapshot))

    async def _step(self, name: str, arg: BaseModel) -> Any:
        """Run one step until it completes, is skipped, or the run is aborted."""
        pipeline_step, state = BY_NAME[name], self._steps[name]
        while True:
            await self._stop_if_aborted()
            state.state, state.error = "running", None
            started = workflow.now()
            handle = _start(pipeline_step.step, arg.model_copy(update={"options": self._options.get(name, {})}),
                            self._queues, f"{pipeline_step.number}. {pipeline_step.step.title}")
            self._running[name] = handle
            try:
                result = await handle
            except (ActivityError, asyncio.CancelledError) as e:
                if self._abort is not None and self._abort_cancels:
                    state.state, state.error = "cancelled", f"cancelled: aborted by {self._abort.operator}"
                    state.duration_s = (workflow.now() - started).total_seconds()
                    await self._stop_if_aborted()
                if not isinstance(e, ActivityError):
                    raise  # the run itself was cancelled
                state.attempts += _attempts(e, pipeline_step.step.policy.retry.maximum_attempts)
                state.failures += 1
                state.state, state.error = "paging", _message(e)
                state.page_error = state.error
                state.duration_s = (workflow.now() - started).total_seconds()
                workflow.logger.error("step %s %s failed: %s", state.number, name, state.error)
                state.page = await self._page_on_call(pipeline_step, state)
                state.state = "awaiting_operator"
                decision = await self._await_operator(name)
                if isinstance(decision, c.SkipStep):
                    state.state = "skipped"
                    workflow.logger.warning("step %s skipped by %s: %s", name, decision.operator, decision.reason)
                    return None
                self._options[name] = {**self._options.get(name, {}), **decision.options}
                workflow.logger.info("step %s retried by %s: %s", name, decision.operator, decision.reason)
                continue
            finally:
                self._running.pop(name, None)
            # The result says which attempt produced it; results of older workers do not (count one).
            state.attempts += getattr(result, "attempt", None) or 1
            state.state, state.duration_s = "completed", (workflow.now() - started).total_seconds()
            if state.page is not None and state.page.delivered_at is not None and workflow.patched(RESOLVE_PAGES):
                await self._resolve_page(pipeline_step, state)
            return result

    async def _page_on_call(self, pipeline_step, state: _StepState) -> c.PageDelivery:
        page = c.OperatorAlertInput(
            run=self._run, options={"failure": state.failures}, step=state.name, number=state.number,
            error=state.error or "", attempts=state.attempts, skippable=pipeline_step.skippable)
        try:
            await run_step(OPERATOR_ALERT, page, self._queues, f"page on-call: step {state.number} {state.name} failed")
        except ActivityError as e:
            # Paging failed too: the run still waits, and `progress` shows the failed step and why
            # on-call was not told, so whoever reads it knows to act.
            workflow.logger.error("could not page on-call for %s: %s", state.name, _message(e))
            return c.PageDelivery(dedup_key=page.dedup_key, error=_message(e))
        return c.PageDelivery(dedup_key=page.dedup_key, delivered_at=workflow.now())

    async def _resolve_page(self, pipeline_step, state: _StepState) -> None:
        """The all-clear for the incident this step's page opened; like the page, never fails the run."""
        resolve = c.OperatorAlertInput(
            run=self._run, options={"failure": state.failures}, step=state.name, number=state.number,
            error=state.page_error, attempts=state.attempts, skippable=pipeline_step.skippable,
            event_action="resolve")
        try:
            await run_step(OPERATOR_ALERT, resolve, self._queues, f"resolve page: step {state.number} {state.name}")
        except ActivityError as e:
            workflow.logger.error("could not resolve the page for %s: %s", state.name, _message(e))

    async def _await_operator(self, name: str) -> c.RetryStep | c.SkipStep:
        await workflow.wait_condition(lambda: name in self._decisions or self._abort is not None)
        if self._abort is not None:
            # End the run in a later workflow task than the one that accepted `abort`: a run that
            # completes in the update's own task is refused by the server when another event lands
            # meanwhile (UnhandledCommand), and the operator's abort call would then fail.
            await workflow.sleep(ABORT_GRACE, summary="aborting")
            self._raise_if_aborted()
        return self._decisions.pop(name)

    async def _stop_if_aborted(self) -> None:
        if self._abort is not None and self._abort_cancels:
            # Never in the workflow task that accepted `abort` (see _await_operator).
            await workflow.sleep(ABORT_GRACE, summary="aborting")
        self._raise_if_aborted()

    def _raise_if_aborted(self) -> None:
        if self._abort is not None:
            raise ApplicationError(f"aborted by {self._abort.operator}: {self._abort.reason}", type="Aborted",
                                   non_retryable=True)

    @workflow.update
    def retry_step(self, decision: c.RetryStep) -> c.Progress:
        """Re-run the failed step (with `options` merged into its options); earlier steps are kept."""
        self._decisions[decision.step] = decision
        return self.progress()

    @retry_step.validator
    def _validate_retry(self, decision: c.RetryStep) -> None:
        self._require_awaiting(decision.step)
        # The same check, and message, as at start: `options.<step>.<key>: <problem>`. (A run started
        # with untyped options may hold keys no step takes: only the operator's overrides are checked.)
        current = self._options.get(decision.step, {}) if self._typed_options else {}
        c.check_step_options(decision.step, {**current, **decision.options})

    @workflow.update
    def skip_step(self, decision: c.SkipStep) -> c.Progress:
        """Skip the failed step (only steps whose output nothing downstream needs)."""
        self._decisions[decision.step] = decision
        return self.progress()

    @skip_step.validator
    def _validate_skip(self, decision: c.SkipStep) -> None:
        self._require_awaiting(decision.step)
        if not BY_NAME[decision.step].skippable:
            skippable = [s.name for s in STEPS if s.skippable]
            raise ValueError(f"step {decision.step!r} is not skippable (later steps need its output); "
                             f"skippable: {skippable}")

    @workflow.update
    def abort(self, decision: c.Abort) -> c.Progress:
        """End the run as failed, with the reason; steps in flight are cancelled."""
        self._abort = decision
        self._publish()
        if self._abort_cancels:
            for handle in self._running.values():
                handle.cancel()
        return self.progress()

    @abort.validator
    def _validate_abort(self, decision: c.Abort) -> None:
        if self._finished or self._ending or self._abort is not None:
            raise ValueError("the run is already ending")

    def _require_awaiting(self, step: str) -> None:
        if step not in self._steps:
            raise ValueError(f"unknown step {step!r}; steps: {[s.name for s in STEPS]}")
        # A decision may arrive while on-call is still being paged; it takes effect once the page is done.
        if self._steps[step].state not in ("paging", "awaiting_operator") or step in self._decisions:
            waiting = [s.name for s in self._steps.values() if s.state in ("paging", "awaiting_operator")]
            raise ValueError(f"step {step!r} is not awaiting an operator (it is {self._steps[step].state}); "
                             f"awaiting: {waiting or 'none'}")

    @workflow.query
    def progress(self) -> c.Progress:
        """All 23 steps in order with state, attempts, duration and last error."""
        if self._finished:
            run_state = "completed"
        elif self._abort is not None:
            run_state = "aborted"
        elif any(s.state == "paging" for s in self._steps.values()):
            run_state = "paging"  # transient: "awaiting_operator" is said only once every page is done
        elif any(s.state == "awaiting_operator" for s in self._steps.values()):
            run_state = "awaiting_operator"
        else:
            run_state = "running"
        return c.Progress(run_date=self._run_date, state=run_state, steps=self._public_steps())

    def _publish(self) -> None:
        self._visible.set(state=self.progress().state, step=self._current_step())

    def _current_step(self) -> str | None:
        """The step an operator should look at: a failed one first, else the earliest running one."""
        for wanted in ("paging", "awaiting_operator", "running"):
            for s in self._steps.values():
                if s.state == wanted:
                    return s.name
        return None

    def _public_steps(self) -> list[c.StepProgress]:
        return [s.public() for s in self._steps.values()]


def _start(step: Step, arg: BaseModel, queues: QueueSet, summary: str) -> workflow.ActivityHandle:
    """``run_step`` without awaiting: the handle lets `abort` cancel the step. (``execute_activity`` is
    start-then-await, so runs take the same commands in the same order as through ``run_step``.)"""
    policy = step.policy
    return workflow.start_activity(step.name, arg, result_type=step.output, task_queue=queues[step.resource],
                                   start_to_close_timeout=policy.start_to_close, heartbeat_timeout=policy.heartbeat,
                                   retry_policy=policy.retry, summary=summary)


def _attempts(error: ActivityError, maximum: int) -> int:
    """How many attempts the step made: the last attempt's number, which the activity puts in its
    failure's details; a failure without it (a timeout, say) ends the policy's attempts only when the
    server says it reached the maximum."""
    details = getattr(error.cause, "details", None) or ()
    attempt = details[0].get("attempt") if details and isinstance(details[0], dict) else None
    if attempt:
        return int(attempt)
    return maximum if error.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED else 1


def _message(error: ActivityError) -> str:
    cause = error.cause
    while cause is not None and getattr(cause, "cause", None) is not None and not isinstance(cause, ApplicationError):
        cause = cause.cause
    kind = getattr(cause, "type", None) or type(cause).__name__
    return f"{kind}: {cause.message if hasattr(cause, 'message') else cause}"
