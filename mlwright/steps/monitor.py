"""Steps of the RetrainingMonitor."""

from __future__ import annotations

from datetime import timedelta

from mlwright import policies
from mlwright.contracts import monitor as c
from mlwright.policies import StepPolicy
from mlwright.queues import Resource
from mlwright.steps import Step

EVALUATE = Step("evaluate_monitor_cycle", "Performance and drift of recent predictions", c.EvaluateCycleInput,
                c.CycleFigures, Resource.CPU, policies.COMPUTE)
RECORD = Step("record_monitor_cycle", "Record monitor cycle", c.RecordCycleInput, c.Recorded, Resource.IO,
              policies.STORE_WRITE)
# Async (it asks the Temporal service): a short call, retried like any store read.
POLL_CHILD = Step("poll_training_child", "Check the retrain child", c.PollChildInput, c.ChildRun, Resource.IO,
                  StepPolicy(start_to_close=timedelta(seconds=30), retry=policies.STORE_WRITE.retry))

ALL = (EVALUATE, RECORD, POLL_CHILD)
