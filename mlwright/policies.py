"""Named timeout and retry profiles, one per kind of step.

Timeouts bound one attempt; retries absorb transient faults (I/O, a worker restart) and never
repeat a failure that another attempt cannot fix (``ErrorType.NON_RETRYABLE``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.common import RetryPolicy

from mlwright.errors import ErrorType


@dataclass(frozen=True)
class StepPolicy:
    start_to_close: timedelta
    heartbeat: timedelta | None = None
    retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(
            initial_interval=timedelta(seconds=1),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=30),
            maximum_attempts=5,
            non_retryable_error_types=list(ErrorType.NON_RETRYABLE),
        )
    )


def _retry(attempts: int, max_interval_s: float = 30) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=max_interval_s),
        maximum_attempts=attempts,
        non_retryable_error_types=list(ErrorType.NON_RETRYABLE),
    )


# Heartbeat timeouts are short because steps heartbeat automatically (six beats per timeout, see
# Step.defn): a killed worker is noticed in seconds and its step handed to another worker.
# Reads from and writes to systems outside our control: flaky, so retried the most.
IO_READ = StepPolicy(start_to_close=timedelta(minutes=10), heartbeat=timedelta(seconds=10), retry=_retry(8, 60))
# Small writes to our own store: quick, idempotent, retried freely.
STORE_WRITE = StepPolicy(start_to_close=timedelta(seconds=60), retry=_retry(10, 30))
# CPU-bound transforms and checks on data already fetched.
COMPUTE = StepPolicy(start_to_close=timedelta(minutes=15), heartbeat=timedelta(seconds=20), retry=_retry(3))
# Model fits: long, so a lost worker is noticed by the missing heartbeat, not after the hour.
TRAINING = StepPolicy(start_to_close=timedelta(hours=2), heartbeat=timedelta(seconds=60), retry=_retry(3, 120))
