"""The step catalog: one typed record per pipeline step.

A ``Step`` names an activity, the contracts it takes and returns, the resource queue that runs
it and its timeout/retry profile. Workflows schedule steps through it (so they never import the
heavy activity modules), activities declare themselves with ``step.defn`` (so the name cannot
drift), and a test checks every step is served on its queue with matching types.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel
from temporalio import activity

from mlwright import step_spans
from mlwright.errors import MlwrightError, as_application_error
from mlwright.heartbeat import heartbeating
from mlwright.policies import StepPolicy
from mlwright.queues import Resource

InT = TypeVar("InT", bound=BaseModel)
OutT = TypeVar("OutT", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class Step(Generic[InT, OutT]):
    name: str
    title: str  # shown as the activity summary in the Temporal UI
    input: type[InT]
    output: type[OutT]
    resource: Resource
    policy: StepPolicy

    def defn(self, fn: F) -> F:
        """Declare ``fn`` (a sync method) as this step's activity implementation.

        Domain errors become ApplicationErrors of the same type, non-retryable unless the error
        says otherwise; anything else stays retryable, as a transient fault would be. When the
        policy has a heartbeat timeout, heartbeats run for the whole call (six per timeout).

        Cancellation is cooperative: the step stops at its next ``check_cancelled()`` (between
        pages, batches and deliveries). The SDK's default, an exception raised asynchronously in
        the step's thread, can land anywhere: inside SQLAlchemy's one-time mapper setup it broke
        every later query of the worker process, and mid-transaction or mid-delivery it would
        leave a write half-done. A single long call (a model fit) runs to its end, then the step stops.
        """
        heartbeat = self.policy.heartbeat
        traced = step_spans.traced(fn)

        @functools.wraps(fn)
        def translated(*args, **kwargs):
            try:
                if heartbeat is None:
                    return traced(*args, **kwargs)
                with heartbeating(self.name, every_s=heartbeat.total_seconds() / 6):
                    return traced(*args, **kwargs)
            except MlwrightError as e:
                e.details.setdefault("attempt", activity.info().attempt)
                raise as_application_error(e) from e

        return activity.defn(name=self.name, no_thread_cancel_exception=True)(translated)  # type: ignore[return-value]
