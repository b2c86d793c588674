"""Writes to the model registry: new versions and stage changes (deploy, canary, promote, rollback)."""

from __future__ import annotations

from temporalio import activity

from activities.deps import ActivityDeps
from mlwright.contracts import training_steps as c
from mlwright.steps import training as steps
from mlwright.store import registry
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
                               idempotency_key=inp.run.key(inp.step))
        activity.logger.info("%s v%s -> %s (%s)", inp.model_name, inp.version, inp.stage, inp.actor)
        return c.RegisteredVersion(model_name=inp.model_name, version=inp.version)

    @steps.RETIRE_STAGE.defn
    def retire_model_stage(self, inp: c.RetireStage) -> c.StageRetired:
        """Empty a stage (end a canary). Idempotent per (run, step)."""
        with session_scope(self.deps.engine) as session:
            previous = registry.retire_stage(session, model_name=inp.model_name, stage=inp.stage, actor=inp.actor,
                                             reason=inp.reason, idempotency_key=inp.run.key(inp.step))
        return c.StageRetired(model_name=inp.model_name, stage=inp.stage, version=previous)
