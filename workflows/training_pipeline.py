"""TrainingPipeline: extract → validate → features → split → train → evaluate → compare → register →
staging → integration tests → approval → canary → watch → promote or roll back.

A model reaches production only after a person approves it (Update ``approve``) and its canary
holds up against production on the same rows. Without a decision within
``promotion.approval_timeout`` the candidate is rejected.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from mlwright.contracts import training_steps as c
    from mlwright.contracts.refs import DatasetRef
    from mlwright.contracts.training import (
        DEFAULT_METRIC,
        ApprovalDecision,
        Decision,
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
        self._visible = RunAttributes()

    @workflow.run
    async def run(self, *raw: object) -> TrainingResult:
        """Input: TrainingInput as JSON. Result: TrainingResult."""
        try:
            return await self._pipeline(raw)
        except Exception:
            self._visible.set(state="failed", step=self._step)
            raise

    async def _pipeline(self, raw: tuple[object, ...]) -> TrainingResult:
        inp = parse_input(raw, TrainingInput, "TrainingPipeline")
        self._visible.start("TrainingPipeline", model=inp.model_name)
        self._inp = inp
        self._queues = queues_for_this_run()
        info = workflow.info()
        self._run = c.RunKey(workflow_id=info.workflow_id, run_id=info.first_execution_run_id)

        data = await self._do("extract", steps.EXTRACT, c.ExtractInput(dataset=inp.dataset))
        await self._do("validate_quality", steps.VALIDATE, c.QualityInput(
            run=self._run, data=data, target=inp.dataset.target, task=inp.task, quality=inp.quality))
        fs = await self._do("build_features", steps.FEATURES, c.FeaturesInput(
            data=data, target=inp.dataset.target, task=inp.task))
        self._metric = self._check_inferred_task(fs.task)
        split = await self._do("split", steps.SPLIT, c.SplitInput(features=fs, split=inp.split))
        model = await self._do("train", steps.TRAIN, c.TrainInput(
            features=fs, train=split.train, estimator=inp.estimator, seed=inp.split.seed),
            summary=f"Train {inp.estimator.name} on {split.train.rows} rows")
        metrics = await self._do("evaluate", steps.EVALUATE, c.EvaluateInput(
            model=model.artifact, test=split.test, target=fs.target, task=fs.task))
        self._candidate_metrics = metrics.values
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
            model_name=self._inp.model_name, test=test, target=fs.target, task=fs.task, metric=self._metric,
            max_regression=promotion.canary_max_regression))
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

    @workflow.update
    def approve(self, decision: ApprovalDecision) -> TrainingStatus:
        """Approve the candidate for a canary in production."""
        self._approval, self._awaiting_approval = (True, decision), False
        return self.status()

    @workflow.update
    def reject(self, decision: ApprovalDecision) -> TrainingStatus:
        """Reject the candidate; it is archived."""
        self._approval, self._awaiting_approval = (False, decision), False
        return self.status()

    @approve.validator
    def _validate_approve(self, decision: ApprovalDecision) -> None:
        self._validate_decision(decision)

    @reject.validator
    def _validate_reject(self, decision: ApprovalDecision) -> None:
        self._validate_decision(decision)

    def _validate_decision(self, decision: ApprovalDecision) -> None:
        if not self._awaiting_approval or self._approval is not None:
            raise ValueError(f"not awaiting approval: the run is at step {self._step!r}")
        if not decision.approver.strip():
            raise ValueError("approver must not be empty")

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
            metric=self._metric, decision=self._decision)

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
            stage=stage, traffic_fraction=fraction, actor=actor, reason=reason),
            summary=f"{stage}: {self._inp.model_name} v{version}{share}")

    async def _retire_canary(self, label: str, reason: str) -> None:
        await self._do(label, steps.RETIRE_STAGE, c.RetireStage(
            run=self._run, step=label, model_name=self._inp.model_name, stage="canary", actor=PIPELINE_ACTOR,
            reason=reason), summary=f"end canary of {self._inp.model_name}: {reason}")

    def _publish(self) -> None:
        if self._decision is not None:
            self._visible.set(state=self._decision, step=None)
            return
        state = ("awaiting_approval" if self._awaiting_approval
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
            decision=decision, decided_by=decided_by, reason=reason, step_durations=dict(self._durations))
