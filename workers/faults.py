"""Fault injection for drills and tests: MLWRIGHT_FAULT_INJECTION=step[:N].

The first N executions of that step in this worker process raise (every execution without N).
Off by default and refused in production settings (see ``Settings``).
"""

from __future__ import annotations

import threading
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor


class FaultInjection(Interceptor):
    def __init__(self, spec: str) -> None:
        step, _, count = spec.partition(":")
        self.step, self.remaining = step, int(count) if count else None
        self._lock = threading.Lock()

    def should_fail(self, step: str) -> bool:
        if step != self.step:
            return False
        with self._lock:
            if self.remaining is None:
                return True
            if self.remaining > 0:
                self.remaining -= 1
                return True
            return False

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self)


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, faults: FaultInjection) -> None:
        super().__init__(next)
        self.faults = faults

    def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        if self.faults.should_fail(info.activity_type):
            # Retryable, like the transient fault it stands for; the attempt in the details is what
            # the workflow reports as the step's attempts.
            raise ApplicationError(f"injected fault in {info.activity_type} (attempt {info.attempt}); "
                                   "MLWRIGHT_FAULT_INJECTION is set on this worker", {"attempt": info.attempt},
                                   type="InjectedFault")
        return self.next.execute_activity(input)
