"""TrainingPipeline: extract → validate → features → split → train → evaluate → compare → register →
staging → integration tests → approval → canary → watch → promote or roll back.

A model reaches production only after a person approves it (``approve`` as an Update or a
Signal) and its canary holds up against production on the same rows. Without a decision within
``promotion.approval_timeout`` the candidate is rejected.

From the comparison with production to the end, a run holds its model's promotion slot
(mlwright/store/promotion.py): runs of one model never move each other's stages, and a run waits
(durably, visible in ``status``) while another holds the slot.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from mlwright.approvals import ApprovalPolicy, ApprovalVerdict
    from mlwright.approvals import evaluate as evaluate_approval
    from mlwright.contracts import training_steps as c
    from mlwright.contracts.common import describe_validation_error
    from mlwright.contracts.refs import DatasetRef
    from mlwright.contracts.training import (
        DEFAULT_METRIC,
        ApprovalDecision,
        Decision,
        RefusedDecision,
        TrainingInput,
        TrainingResult,
        TrainingStatus,
        check_estimator_task,
        check_metric,
    )
    from mlwright.errors import ErrorType
    from mlwright.steps import Step
    from mlwright.steps import training as steps

from workflows._steps import parse_input, queues_for_this_run, run_step
from workflows._visibility import RunAttributes

PIPELINE_ACTOR = "TrainingPipeline"
CANARY_STEPS = ("deploy_canary", "watch_canary", "evaluate_canary")
# Runs started before these changes take the old path on replay (tests/replay/histories).
INPUT_LIMITS_PATCH = "check-training-input-limits"
PROMOTION_SLOT_PATCH = "promotion-slot-per-model"
APPROVAL_SIGNALS_PATCH = "approval-by-signal"
APPROVAL_POLICY_PATCH = "approval-policy"
APPROVAL_REFUSED = "ApprovalRefused"
SLOT_RELEASED_SIGNAL = "promotion_slot_released"
SLOT_PROBE_SIGNAL = "promotion_slot_probe"
# A waiting run probes the holder after promotion_slot_poll_s, then backs off to 20 times that, so a
# 72-hour approval wait costs a few hundred probes, not thousands of history events.
SLOT_POLL_BACKOFF_CAP = 20
# Closed runs the releasing run skips when handing over; any beyond are found by the waiters' probes.
SLOT_HANDOVER_TRIES = 5
UPDATE_REFUSED = "UpdateRefused"
# Refused signals kept for `status`; beyond this a sender spamming bad signals is only logged.
MAX_REFUSED_KEPT = 100


@workflow.defn(name="TrainingPipeline")
class TrainingPipeline:
    def __init__(self) -> None:
        self._step = "starting"
        self._awaiting_approval = False
        self._approval: tuple[bool, ApprovalDecision] | None = None
        self._candidate: c.RegisteredVersion | None = None
        self._candidate_metrics: dict[str, float] = {}
        self._comparison: c.Comparison | None = None
        self._metric: str | None = None
        self._decision: Decision | None = None
        self._durations: dict[str, float] = {}
        self._visible = RunAttributes("TrainingPipeline")
        self._holds_slot = False
        self._slot_released = False
        self._waiting_for: str | None = None
        self._refused: list[RefusedDecision] = []
        self._policy: ApprovalPolicy | None = None
        self._policy_loaded = False
        self._decisions = 0

    @workflow.run
    async def run(self, *raw: object) -> TrainingResult:
        """Input: TrainingInput as JSON. Result: TrainingResult."""
        try:
            return await self._start(raw)
        except (Exception, asyncio.CancelledError) as e:
            self._visible.set(state="cancelled" if isinstance(e, asyncio.CancelledError) else "failed",
                              step=self._step)
            raise

    async def _start(self, raw: tuple[object, ...]) -> TrainingResult:
        inp = parse_input(raw, TrainingInput, "TrainingPipeline")
        self._visible.start(model=inp.model_name)
        self._inp = inp
        self._queues = queues_for_this_run()
        info = workflow.info()
        self._run = c.RunKey(workflow_id=info.workflow_id, run_id=info.first_execution_run_id)
        result = await self._pipeline(inp)
        # A refused signal may still be writing its audit row; it must land before the run ends.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    async def _pipeline(self, inp: TrainingInput) -> TrainingResult:
        train_step, limits = steps.TRAIN, None
        if workflow.patched(INPUT_LIMITS_PATCH):
            limits = await self._do("check_input", steps.CHECK_INPUT, c.InputCheck(
                estimator=inp.estimator, task=inp.task))
            policy = dataclasses.replace(train_step.policy,
                                         start_to_close=min(train_step.policy.start_to_close, limits.max_fit))
            train_step = dataclasses.replace(train_step, policy=policy)
        data = await self._do("extract", steps.EXTRACT, c.ExtractInput(dataset=inp.dataset))
        if limits is not None and limits.max_rows is not None and data.rows > limits.max_rows:
            raise ApplicationError(
                f"dataset: {data.rows} rows exceed this deployment's limit of {limits.max_rows} "
                "(MLWRIGHT_TRAINING_MAX_ROWS); sample or filter the data", type=ErrorType.INVALID_INPUT,
                non_retryable=True)
        await self._do("validate_quality", steps.VALIDATE, c.QualityInput(
            run=self._run, data=data, target=inp.dataset.target, task=inp.task, quality=inp.quality))
        fs = await self._do("build_features", steps.FEATURES, c.FeaturesInput(
            data=data, target=inp.dataset.target, task=inp.task))
        self._metric = self._check_inferred_task(fs.task)
        split = await self._do("split", steps.SPLIT, c.SplitInput(features=fs, split=inp.split))
        model = await self._do("train", train_step, c.TrainInput(
            features=fs, train=split.train, estimator=inp.estimator, seed=inp.split.seed),
            summary=f"Train {inp.estimator.name} on {split.train.rows} rows")
        metrics = await self._do("evaluate", steps.EVALUATE, c.EvaluateInput(
            model=model.artifact, test=split.test, target=fs.target, task=fs.task))
        self._candidate_metrics = metrics.values
        if not workflow.patched(PROMOTION_SLOT_PATCH):
            return await self._compare_and_promote(model, metrics, split, fs)
        try:
            await self._acquire_promotion_slot()
            result = await self._compare_and_promote(model, metrics, split, fs)
        except (Exception, asyncio.CancelledError):
            # Whatever ended the run here (failure, cancellation), its claim goes. Not on eviction
            # from a worker's cache (GeneratorExit): the run goes on elsewhere, still holding it.
            await self._release_promotion_slot()
            raise
        await self._release_promotion_slot()
        return result

    async def _compare_and_promote(self, model: c.TrainedModel, metrics: c.Metrics, split: c.SplitOutput,
                                   fs: c.FeatureSet) -> TrainingResult:
        inp = self._inp
        self._comparison = await self._do("compare_with_production", steps.COMPARE, c.CompareInput(
            model_name=inp.model_name, candidate=metrics, test=split.test, target=fs.target, task=fs.task,
            metric=self._metric, min_improvement=inp.promotion.min_improvement))
        workflow.logger.info("comparison: %s", self._comparison.detail)
        if not self._comparison.beats_production:
            return self._finish(fs.task, "not_improved", PIPELINE_ACTOR, self._comparison.detail)

        self._candidate = await self._do("register", steps.REGISTER, c.RegisterInput(
            run=self._run, model_name=inp.model_name, task=fs.task, estimator=inp.estimator, model=model,
            metrics=metrics, training_data=split.train, features=fs))
        await self._set_stage("deploy_staging", "staging", PIPELINE_ACTOR, "candidate registered")
        report = await self._do("integration_tests", steps.INTEGRATION, c.IntegrationInput(
            model_name=inp.model_name, stage="staging", expected_version=self._candidate.version, test=split.test,
            target=fs.target, task=fs.task, expected_metrics=metrics))
        if not report.passed:
            failed = "; ".join(f"{x.name}: {x.detail}" for x in report.checks if not x.passed)
            await self._set_stage("archive", "archived", PIPELINE_ACTOR, f"integration tests failed: {failed}")
            return self._finish(fs.task, "failed_integration", PIPELINE_ACTOR, failed)

        if workflow.patched(APPROVAL_POLICY_PATCH):
            state = await self._do("load_approval_policy", steps.LOAD_APPROVAL_POLICY,
                                   c.PolicyRequest(model_name=inp.model_name))
            self._policy, self._policy_loaded = state.policy, True
        approved, decision = await self._await_approval(inp.promotion.approval_timeout)
        if not approved:
            await self._set_stage("archive", "archived", decision.approver, decision.reason)
            return self._finish(fs.task, "rejected", decision.approver, decision.reason)
        return await self._canary(split.test, fs, decision)

    async def _canary(self, test: DatasetRef, fs: c.FeatureSet, decision: ApprovalDecision) -> TrainingResult:
        promotion = self._inp.promotion
        await self._set_stage("deploy_canary", "canary", decision.approver,
                              f"approved: {decision.reason}", promotion.canary_fraction)
        self._step = "watch_canary"
        self._publish()
        started = workflow.now()
        await workflow.sleep(promotion.canary_duration, summary="canary observation window")
        self._durations["canary_window"] = (workflow.now() - started).total_seconds()
        health = await self._do("evaluate_canary", steps.WATCH_CANARY, c.CanaryInput(
            model_name=self._inp.model_name, version=self._candidate.version, test=test, target=fs.target,
            task=fs.task, metric=self._metric, max_regression=promotion.canary_max_regression))
        if health.healthy:
            await self._set_stage("promote", "production", decision.approver, f"canary healthy: {health.detail}")
            await self._retire_canary("end_canary", "promoted")
            return self._finish(fs.task, "promoted", decision.approver,
                                f"approved ({decision.reason or 'no reason given'}); canary: {health.detail}")
        await self._retire_canary("rollback_canary", f"rolled back: {health.detail}")
        await self._set_stage("archive", "archived", "canary-watch", health.detail)
        return self._finish(fs.task, "rolled_back", "canary-watch", health.detail)

    async def _await_approval(self, timeout: timedelta) -> tuple[bool, ApprovalDecision]:
        self._step, self._awaiting_approval = "await_approval", True
        self._publish()
        started = workflow.now()
        try:
            await workflow.wait_condition(lambda: self._approval is not None, timeout=timeout,
                                          timeout_summary="approval timeout")
        except TimeoutError:
            self._approval = (False, ApprovalDecision(approver="timeout", reason=f"no decision within {timeout}"))
        self._awaiting_approval = False
        self._publish()
        self._durations["await_approval"] = (workflow.now() - started).total_seconds()
        return self._approval

    # Handlers take the raw JSON (``Any``) and validate it as ApprovalDecision themselves: typed
    # parameters would make the SDK refuse bad input as a retryable "Failed decoding arguments"
    # naming no field, and drop a bad Signal without a trace.
    @workflow.update(name="approve")
    async def approve(self, decision: Any = None) -> TrainingStatus:
        """Approve the candidate (input: ApprovalDecision); replies with the status after the decision."""
        return await self._decide_update("approve", ApprovalDecision.model_validate(decision))

    @workflow.update(name="reject")
    async def reject(self, decision: Any = None) -> TrainingStatus:
        """Reject the candidate (input: ApprovalDecision); it is archived."""
        return await self._decide_update("reject", ApprovalDecision.model_validate(decision))

    async def _decide_update(self, action: str, decision: ApprovalDecision) -> TrainingStatus:
        if self._policy_loaded:
            # The policy is checked here, not in the validator: a validator's refusal leaves no
            # history, and every decision, refused ones too, must reach the audit table.
            verdict = await self._audit(action, decision)
            if not verdict.allowed:
                raise ApplicationError(f"{action} refused by approval policy rule {verdict.rule}: {verdict.reason}",
                                       type=APPROVAL_REFUSED, non_retryable=True)
            if self._approval is not None:
                raise ApplicationError(f"already decided while this {action} was being recorded",
                                       type=UPDATE_REFUSED, non_retryable=True)
        self._approval, self._awaiting_approval = (action == "approve", decision), False
        return self.status()

    async def _audit(self, action: str, decision: ApprovalDecision) -> ApprovalVerdict:
        inp: TrainingInput = self._inp
        if self._policy is None:
            verdict = ApprovalVerdict(allowed=True, rule="no policy", reason="no approval policy file is configured")
        elif action == "reject":
            # Anyone the run accepts a decision from may stop a candidate; only promotion is restricted.
            verdict = ApprovalVerdict(allowed=True, rule="reject", reason="rejections are not restricted")
        else:
            verdict = evaluate_approval(self._policy, identity=decision.approver, model_name=inp.model_name,
                                        requested_by=inp.requested_by)
        index, self._decisions = self._decisions, self._decisions + 1
        await run_step(steps.RECORD_APPROVAL_DECISION, c.ApprovalDecisionRecord(
            run=self._run, index=index, model_name=inp.model_name,
            version=self._candidate.version if self._candidate else None, identity=decision.approver,
            decision=action, verdict=verdict), self._queues)
        return verdict

    @approve.validator
    def _validate_approve(self, decision: Any = None) -> None:
        self._refuse_update("approve", decision)

    @reject.validator
    def _validate_reject(self, decision: Any = None) -> None:
        self._refuse_update("reject", decision)

    # A Signal and an Update may share a name (the SDK and the server keep them apart), so
    # `temporal workflow signal --name approve` does what the same --name does as an Update.
    @workflow.signal(name="approve")
    async def approve_signal(self, decision: Any = None) -> None:
        """Approve, for tools that only send signals. A refusal cannot reach the sender: see `status`."""
        await self._apply_signal("approve", decision)

    @workflow.signal(name="reject")
    async def reject_signal(self, decision: Any = None) -> None:
        """Reject, for tools that only send signals. A refusal cannot reach the sender: see `status`."""
        await self._apply_signal("reject", decision)

    def _refuse_update(self, action: str, raw: Any) -> None:
        _, refusal = self._judge(action, raw)
        if refusal is not None:
            # Non-retryable: sending the same update again cannot succeed; the caller must act.
            raise ApplicationError(refusal, type=UPDATE_REFUSED, non_retryable=True)

    async def _apply_signal(self, action: str, raw: Any) -> None:
        if not workflow.patched(APPROVAL_SIGNALS_PATCH):
            # The run received this signal before approvals by signal existed, when it did nothing;
            # applying it now would make the run's recorded history diverge on replay.
            return
        decision, refusal = self._judge(action, raw)
        if refusal is None and self._policy_loaded:
            verdict = await self._audit(action, decision)
            if not verdict.allowed:
                refusal = f"refused by approval policy rule {verdict.rule}: {verdict.reason}"
            elif self._approval is not None:
                refusal = "already decided while this signal was being recorded"
        if refusal is None:
            self._approval, self._awaiting_approval = (action == "approve", decision), False
            return
        approver = raw.get("approver") if isinstance(raw, dict) else None
        approver = approver if isinstance(approver, str) else None
        workflow.logger.warning("refused %s signal: %s", action, refusal)
        index = len(self._refused)
        if index >= MAX_REFUSED_KEPT:
            return
        self._refused.append(RefusedDecision(action=action, approver=approver, refusal=refusal,
                                             at=workflow.now()))
        inp: TrainingInput | None = getattr(self, "_inp", None)
        if inp is None:
            return  # before the input was read: no model to file it under; status still shows it
        await run_step(steps.RECORD_REFUSAL, c.RefusalRecord(
            run=self._run, index=index, model_name=inp.model_name,
            version=self._candidate.version if self._candidate else None, actor=approver or "(no approver)",
            reason=f"{action} signal refused: {refusal}"), self._queues)

    def _judge(self, action: str, raw: Any) -> tuple[ApprovalDecision | None, str | None]:
        """The decision, and why it is refused (None when it may be applied now)."""
        if raw is None:
            return None, f'{action} needs input: {{"approver": "<who decides>", "reason": "<why>"}}'
        try:
            decision = ApprovalDecision.model_validate(raw)
        except ValidationError as e:
            return None, f"invalid {action} input: {describe_validation_error(e)}"
        if not self._awaiting_approval and self._approval is None:
            return decision, f"not awaiting approval: the run is at step {self._step!r}"
        if self._approval is not None:
            approved, earlier = self._approval
            if self._step == "await_approval":
                verb = "approved" if approved else "rejected"
                return decision, f"already decided: {verb} by {earlier.approver}"
            return decision, f"not awaiting approval: the run is at step {self._step!r}"
        if not decision.approver.strip():
            return decision, "approver must not be empty"
        return decision, None

    @workflow.signal(name=SLOT_RELEASED_SIGNAL)
    def promotion_slot_released(self) -> None:
        """Sent by the run that held this model's promotion slot as it lets go: the slot is ours now."""
        self._slot_released = True

    @workflow.signal(name=SLOT_PROBE_SIGNAL)
    def promotion_slot_probe(self) -> None:
        """Sent by a run waiting for the slot: delivery alone proves this run still runs."""

    @workflow.query
    def status(self) -> TrainingStatus:
        """Current step, candidate against production, and whether approval is pending."""
        comparison = self._comparison
        return TrainingStatus(
            step=self._step, awaiting_approval=self._awaiting_approval,
            candidate_version=self._candidate.version if self._candidate else None,
            candidate_metrics=self._candidate_metrics,
            production_version=comparison.production_version if comparison else None,
            production_metrics=comparison.production_metrics if comparison else {},
            metric=self._metric, decision=self._decision, waiting_for=self._waiting_for,
            refused=list(self._refused))

    async def _acquire_promotion_slot(self) -> None:
        model_name = self._inp.model_name
        state = await self._do("acquire_promotion_slot", steps.ACQUIRE_SLOT,
                               c.SlotRequest(run=self._run, model_name=model_name))
        started, polls = workflow.now(), 0
        while not state.held:
            holder = state.holder
            self._step = "await_promotion_slot"
            self._waiting_for = (f"promotion slot of {model_name} held by {holder.workflow_id} "
                                 f"({state.ahead} run(s) ahead)")
            self._slot_released = False
            self._publish()
            wait = timedelta(seconds=state.poll_s * min(2 ** min(polls, 8), SLOT_POLL_BACKOFF_CAP))
            stale = None
            try:
                await workflow.wait_condition(lambda: self._slot_released, timeout=wait,
                                              timeout_summary="check that the slot holder still runs")
            except TimeoutError:
                polls += 1
                stale = None if await self._still_running(holder) else holder
            state = await self._do("acquire_promotion_slot", steps.ACQUIRE_SLOT,
                                   c.SlotRequest(run=self._run, model_name=model_name, stale=stale))
        self._holds_slot, self._waiting_for = True, None
        self._durations["await_promotion_slot"] = (workflow.now() - started).total_seconds()

    async def _still_running(self, holder: c.RunKey) -> bool:
        if holder.workflow_id == self._run.workflow_id:
            return False  # an earlier execution of this workflow id: only one runs at a time, this one
        try:
            await workflow.get_external_workflow_handle(holder.workflow_id).signal(SLOT_PROBE_SIGNAL)
        except ApplicationError:
            return False  # the server refuses to signal a closed run
        return True

    async def _release_promotion_slot(self) -> None:
        release = c.SlotRelease(run=self._run, model_name=self._inp.model_name)
        released = await run_step(steps.RELEASE_SLOT, release, self._queues)
        held, self._holds_slot, self._waiting_for = self._holds_slot, False, None
        if not held:
            return
        nxt = released.next_in_line
        for _ in range(SLOT_HANDOVER_TRIES):
            if nxt is None:
                return
            try:
                await workflow.get_external_workflow_handle(nxt.workflow_id).signal(SLOT_RELEASED_SIGNAL)
                return
            except ApplicationError:
                # The next run is closed (terminated while it waited): release its claim for it.
                workflow.logger.info("next run in line %s is closed; handing over past it", nxt.workflow_id)
                stale = c.SlotRelease(run=nxt, model_name=self._inp.model_name)
                nxt = (await run_step(steps.RELEASE_SLOT, stale, self._queues)).next_in_line

    async def _do(self, label: str, step: Step, arg, summary: str | None = None):
        self._step = label
        self._publish()
        started = workflow.now()
        result = await run_step(step, arg, self._queues, summary)
        self._durations[label] = (workflow.now() - started).total_seconds()
        return result

    async def _set_stage(self, label: str, stage: str, actor: str, reason: str, fraction: float = 1.0) -> None:
        version = self._candidate.version
        share = f" ({fraction:.0%} of traffic)" if stage == "canary" else ""
        await self._do(label, steps.SET_STAGE, c.StageChange(
            run=self._run, step=label, model_name=self._inp.model_name, version=version,
            stage=stage, traffic_fraction=fraction, actor=actor, reason=reason,
            require_slot=self._holds_slot),
            summary=f"{stage}: {self._inp.model_name} v{version}{share}")

    async def _retire_canary(self, label: str, reason: str) -> None:
        await self._do(label, steps.RETIRE_STAGE, c.RetireStage(
            run=self._run, step=label, model_name=self._inp.model_name, stage="canary", actor=PIPELINE_ACTOR,
            reason=reason, require_slot=self._holds_slot),
            summary=f"end canary of {self._inp.model_name}: {reason}")

    def _publish(self) -> None:
        if self._decision is not None:
            self._visible.set(state=self._decision, step=None)
            return
        state = ("awaiting_approval" if self._awaiting_approval
                 else "awaiting_promotion_slot" if self._waiting_for
                 else "canary" if self._step in CANARY_STEPS else "running")
        self._visible.set(state=state, step=self._step)

    def _check_inferred_task(self, task: str) -> str:
        try:
            check_estimator_task(self._inp.estimator.name, task)
            check_metric(self._inp.promotion.metric, task)
        except ValueError as e:
            raise ApplicationError(f"{e} (task inferred from the target column)", type=ErrorType.INVALID_INPUT,
                                   non_retryable=True) from e
        return self._inp.promotion.metric or DEFAULT_METRIC[task]

    def _finish(self, task: str, decision: Decision, decided_by: str, reason: str) -> TrainingResult:
        self._step, self._decision = "done", decision
        self._publish()
        comparison = self._comparison
        workflow.logger.info("%s: %s by %s (%s)", self._inp.model_name, decision, decided_by, reason)
        return TrainingResult(
            model_name=self._inp.model_name, version=self._candidate.version if self._candidate else None,
            task=task, metric=self._metric, metrics=self._candidate_metrics,
            production_version=comparison.production_version if comparison else None,
            production_metrics=comparison.production_metrics if comparison else {},
            decision=decision, decided_by=decided_by, reason=reason, step_durations=dict(self._durations),
            refused=list(self._refused))
