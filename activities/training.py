"""Model fitting: the one heavy step, on its own queue and worker."""

from __future__ import annotations

import time

from activities.deps import ActivityDeps
from mlwright.contracts import training_steps as c
from mlwright.heartbeat import phase
from mlwright.ml import training
from mlwright.steps import training as steps


class TrainingActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

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
