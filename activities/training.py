"""Model fitting: the one heavy step, on its own queue and worker."""

from __future__ import annotations

import time
from datetime import timedelta

from activities.deps import ActivityDeps
from mlwright.contracts import training_steps as c
from mlwright.heartbeat import phase
from mlwright.ml import training
from mlwright.steps import training as steps


class TrainingActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @steps.CHECK_INPUT.defn
    def check_training_input(self, inp: c.InputCheck) -> c.InputLimits:
        """Refuse estimator parameters beyond this deployment's caps or scikit-learn's constraints.

        Runs first, so a run that could never train (or would hold the training slot for hours)
        fails in well under a second, naming the parameter. Read-only; retry class COMPUTE.

        Why an activity and not a table of constraints in the contracts: workflow code may neither
        import scikit-learn nor read settings (a replay on a worker with other settings would
        diverge); an activity applies scikit-learn's own validation (nothing to keep in sync) and
        the deployment's caps, and its answer is recorded in the history, so replay stays
        deterministic. It costs one short activity before extraction.
        """
        limits = self.deps.settings
        caps = {"n_estimators": (limits.training_max_estimators, "MLWRIGHT_TRAINING_MAX_ESTIMATORS"),
                "max_iter": (limits.training_max_iterations, "MLWRIGHT_TRAINING_MAX_ITERATIONS")}
        training.check_params(inp.estimator.name, inp.task, inp.estimator.params, caps)
        return c.InputLimits(max_fit=timedelta(seconds=limits.training_max_fit_s),
                             max_rows=limits.training_max_rows)

    @steps.TRAIN.defn
    def train_model(self, inp: c.TrainInput) -> c.TrainedModel:
        """Fit the preprocessing + estimator pipeline on the training rows; store the model.

        Heartbeats with its phase while fitting. Idempotent: the artifact is content-addressed.
        Retry class TRAINING; bad estimator parameters are non-retryable and name the parameter.
        """
        fs = inp.features
        phase("load")
        frame = self.deps.artifacts.get_frame(inp.train)
        estimator = training.make_estimator(inp.estimator.name, fs.task, inp.estimator.params, inp.seed)
        pipeline = training.make_pipeline(estimator, fs.numeric, fs.categorical)
        started = time.perf_counter()
        training.fit(pipeline, frame, fs.target, on_progress=phase)
        fit_seconds = time.perf_counter() - started
        phase("store")
        artifact = self.deps.artifacts.put_bytes(training.serialize(pipeline), ".pkl")
        return c.TrainedModel(artifact=artifact, params=training.public_params(pipeline),
                              fit_seconds=round(fit_seconds, 4))
