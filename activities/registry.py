"""Writes to the model registry: new versions and stage changes (deploy, canary, promote, rollback)."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from mlwright import approvals
from mlwright.contracts import training_steps as c
from mlwright.errors import ErrorType
from mlwright.steps import training as steps
from mlwright.store import approvals as approval_audit
from mlwright.store import promotion, registry
from mlwright.store.db import session_scope
from mlwright.store.tables import ModelVersionCreate


class RegistryActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @steps.REGISTER.defn
    def register_model_version(self, inp: c.RegisterInput) -> c.RegisteredVersion:
        """Record the candidate as the next version. Idempotent: keyed by the producing run."""
        fs = inp.features
        data = ModelVersionCreate(
            model_name=inp.model_name, task=inp.task, estimator=inp.estimator.name, params=inp.model.params,
            metrics=inp.metrics.values, artifact_uri=inp.model.artifact.uri, artifact_sha256=inp.model.artifact.sha256,
            artifact_size=inp.model.artifact.size_bytes, data_sha256=inp.training_data.artifact.sha256,
            data_rows=inp.training_data.rows, source_run=f"{inp.run.workflow_id}/{inp.run.run_id}",
            feature_schema={"numeric": fs.numeric, "categorical": fs.categorical, "dropped": fs.dropped,
                            "target": fs.target},
        )
        with session_scope(self.deps.engine) as session:
            row = registry.register_version(session, data=data)
        activity.logger.info("registered %s v%s", row.model_name, row.version)
        return c.RegisteredVersion(model_name=row.model_name, version=row.version)

    @steps.SET_STAGE.defn
    def set_model_stage(self, inp: c.StageChange) -> c.RegisteredVersion:
        """Move a version into a stage, recording actor and reason. Idempotent per (run, step)."""
        with session_scope(self.deps.engine) as session:
            registry.set_stage(session, model_name=inp.model_name, version=inp.version, stage=inp.stage,
                               traffic_fraction=inp.traffic_fraction, actor=inp.actor, reason=inp.reason,
                               idempotency_key=inp.run.key(inp.step), slot_holder=_holder(inp))
        activity.logger.info("%s v%s -> %s (%s)", inp.model_name, inp.version, inp.stage, inp.actor)
        return c.RegisteredVersion(model_name=inp.model_name, version=inp.version)

    @steps.RETIRE_STAGE.defn
    def retire_model_stage(self, inp: c.RetireStage) -> c.StageRetired:
        """Empty a stage (end a canary). Idempotent per (run, step)."""
        with session_scope(self.deps.engine) as session:
            previous = registry.retire_stage(session, model_name=inp.model_name, stage=inp.stage, actor=inp.actor,
                                             reason=inp.reason, idempotency_key=inp.run.key(inp.step),
                                             slot_holder=_holder(inp))
        return c.StageRetired(model_name=inp.model_name, stage=inp.stage, version=previous)

    @steps.RECORD_REFUSAL.defn
    def record_refused_approval(self, inp: c.RefusalRecord) -> c.RefusalRecorded:
        """File a refused approve/reject signal in the stage history. Idempotent per (run, refusal)."""
        with session_scope(self.deps.engine) as session:
            registry.record_refusal(session, model_name=inp.model_name, version=inp.version, actor=inp.actor,
                                    reason=inp.reason, idempotency_key=inp.run.key(f"refused-{inp.index}"))
        return c.RefusalRecorded(index=inp.index)

    @steps.LOAD_APPROVAL_POLICY.defn
    def load_approval_policy(self, inp: c.PolicyRequest) -> c.ApprovalPolicyState:
        """The policy file of this deployment (MLWRIGHT_APPROVAL_POLICY_FILE); a bad file fails the step loudly."""
        path = self.deps.settings.approval_policy_file
        if path is None:
            return c.ApprovalPolicyState()
        try:
            return c.ApprovalPolicyState(policy=approvals.load_policy(path))
        except approvals.ApprovalPolicyError as e:
            raise ApplicationError(str(e), type=ErrorType.INVALID_INPUT, non_retryable=True) from None

    @steps.RECORD_APPROVAL_DECISION.defn
    def record_approval_decision(self, inp: c.ApprovalDecisionRecord) -> c.ApprovalDecisionRecorded:
        """File an approval decision, accepted or refused, in the audit table. Idempotent per (run, index)."""
        with session_scope(self.deps.engine) as session:
            approval_audit.record_decision(session, model_name=inp.model_name, version=inp.version,
                                           identity=inp.identity, decision=inp.decision, verdict=inp.verdict,
                                           idempotency_key=inp.run.key(f"approval-{inp.index}"))
        return c.ApprovalDecisionRecorded(index=inp.index)

    @steps.ACQUIRE_SLOT.defn
    def acquire_promotion_slot(self, inp: c.SlotRequest) -> c.SlotState:
        """Join the model's promotion queue and say whether this run holds the slot. Idempotent per run.

        ``inp.stale`` names a holder the workflow found closed: its claim is dropped first.
        """
        with session_scope(self.deps.engine) as session:
            if inp.stale is not None:
                promotion.release(session, model_name=inp.model_name, workflow_id=inp.stale.workflow_id,
                                  run_id=inp.stale.run_id)
                activity.logger.warning("dropped the promotion claim of %s on %s: that run is closed",
                                        inp.stale.workflow_id, inp.model_name)
            line = promotion.claim(session, model_name=inp.model_name, workflow_id=inp.run.workflow_id,
                                   run_id=inp.run.run_id)
        keys = [(x.workflow_id, x.run_id) for x in line]
        ahead = keys.index((inp.run.workflow_id, inp.run.run_id))
        holder = None if ahead == 0 else c.RunKey(workflow_id=keys[0][0], run_id=keys[0][1])
        return c.SlotState(held=ahead == 0, holder=holder, ahead=ahead,
                           poll_s=self.deps.settings.promotion_slot_poll_s)

    @steps.RELEASE_SLOT.defn
    def release_promotion_slot(self, inp: c.SlotRelease) -> c.SlotReleased:
        """Leave the model's promotion queue; returns the run that holds the slot now. Idempotent."""
        with session_scope(self.deps.engine) as session:
            nxt = promotion.release(session, model_name=inp.model_name, workflow_id=inp.run.workflow_id,
                                    run_id=inp.run.run_id)
        return c.SlotReleased(
            next_in_line=c.RunKey(workflow_id=nxt.workflow_id, run_id=nxt.run_id) if nxt else None)


def _holder(inp: c.StageChange | c.RetireStage) -> tuple[str, str] | None:
    return (inp.run.workflow_id, inp.run.run_id) if inp.require_slot else None
