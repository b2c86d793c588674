"""Feature selection and the train/test split."""

from __future__ import annotations

from temporalio import activity

from activities.deps import ActivityDeps
from mlwright.contracts import training_steps as c
from mlwright.errors import InvalidInput
from mlwright.ml import features, training
from mlwright.steps import training as steps


class FeatureActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @steps.FEATURES.defn
    def build_features(self, inp: c.FeaturesInput) -> c.FeatureSet:
        """Decide the task and the feature columns; store the modelling table.

        Idempotent (content-addressed output). Retry class COMPUTE.
        """
        frame = self.deps.artifacts.get_frame(inp.data)
        task = inp.task or features.infer_task(frame[inp.target].dropna())
        training.check_target(frame[inp.target].dropna(), inp.target, task)
        numeric, categorical, dropped = features.select_features(frame, inp.target)
        if not numeric and not categorical:
            raise InvalidInput("dataset", f"no usable feature columns; dropped: {dropped}")
        table = features.build_feature_frame(frame, inp.target, numeric, categorical)
        activity.logger.info("task %s: %s numeric, %s categorical, dropped %s", task, len(numeric),
                             len(categorical), dropped or "none")
        return c.FeatureSet(data=self.deps.artifacts.put_frame(table), target=inp.target, task=task,
                            numeric=numeric, categorical=categorical, dropped=dropped)

    @steps.SPLIT.defn
    def split_dataset(self, inp: c.SplitInput) -> c.SplitOutput:
        """Seeded split, stratified for classification, so a retry produces the same rows."""
        from sklearn.model_selection import train_test_split  # not at worker start (issue 10)

        fs = inp.features
        frame = self.deps.artifacts.get_frame(fs.data)
        stratify = frame[fs.target] if fs.task == "classification" else None
        try:
            train, test = train_test_split(frame, test_size=inp.split.test_size, random_state=inp.split.seed,
                                           stratify=stratify)
        except ValueError as e:
            raise InvalidInput("split.test_size", str(e)) from e
        return c.SplitOutput(train=self.deps.artifacts.put_frame(train.reset_index(drop=True)),
                             test=self.deps.artifacts.put_frame(test.reset_index(drop=True)))
