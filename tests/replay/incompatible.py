"""A deliberately incompatible TrainingPipeline, kept apart so the sandbox imports only this file."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RawValue


@workflow.defn(name="TrainingPipeline")
class ReorderedTrainingPipeline:
    """Builds features before the quality gate: a change that breaks runs already in flight."""

    @workflow.run
    async def run(self, raw: RawValue) -> None:
        await workflow.execute_activity("build_features", raw, start_to_close_timeout=timedelta(seconds=5))
