"""The step an upstream pipeline runs at its end to learn which downstream pipelines to start."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from mlwright import policies
from mlwright.contracts import triggers as c
from mlwright.queues import Resource
from mlwright.steps import Step

# Retried until the store answers: the upstream's work is done, and failing it now would lose the
# trigger (the downstream would never run for that date). Meanwhile the run shows this step pending.
_UNTIL_IT_ANSWERS = dataclasses.replace(
    policies.STORE_WRITE.retry, maximum_attempts=0, maximum_interval=timedelta(minutes=5))

FIND_DOWNSTREAM = Step(
    "find_downstream", "Find downstream pipelines", c.DownstreamQuery, c.DownstreamPlan, Resource.IO,
    dataclasses.replace(policies.STORE_WRITE, retry=_UNTIL_IT_ANSWERS),
)
ALL = (FIND_DOWNSTREAM,)
