"""The step an upstream pipeline runs at its end to learn which downstream pipelines to start."""

from __future__ import annotations

from mlwright import policies
from mlwright.contracts import triggers as c
from mlwright.queues import Resource
from mlwright.steps import Step

FIND_DOWNSTREAM = Step(
    "find_downstream", "Find downstream pipelines", c.DownstreamQuery, c.DownstreamPlan, Resource.IO,
    policies.STORE_WRITE,
)
ALL = (FIND_DOWNSTREAM,)
