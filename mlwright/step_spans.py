"""What a step's spans say: attempt, queue and step on the activity span; one child span per phase.

Attributes come from an allow-list of contract field names (row counts, byte sizes, model names
and versions), never from values a step computes on patients, so a trace can be shared freely.
Phase spans follow ``mlwright.heartbeat.phase(...)`` calls: each call ends the previous phase and
opens the next, and the step's end closes the last one (with the step's error, if any).
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from pydantic import BaseModel
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput

F = TypeVar("F", bound=Callable[..., Any])

# Contract fields whose values are counts, sizes or model identities: safe to put on a span.
SAFE_FIELDS = frozenset({"rows", "rows_in", "rows_out", "expected_rows", "size_bytes", "model_name", "version",
                         "model_versions", "candidate_version", "production_version"})
_MAX_DEPTH = 3

_phases: contextvars.ContextVar[_Phases | None] = contextvars.ContextVar("mlwright_step_phases", default=None)


class AttemptAttributes(ActivityInboundInterceptor):
    """Marks the activity span with what tells attempts and queues apart."""

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        span = trace.get_current_span()
        span.set_attributes({"mlwright.step": info.activity_type, "mlwright.attempt": info.attempt,
                             "mlwright.queue": info.task_queue, "mlwright.workflow_type": info.workflow_type or ""})
        try:
            return await super().execute_activity(input)
        except Exception as e:
            # An ApplicationError's type is the error vocabulary's name (InvalidInput, InjectedFault, ...).
            span.set_attribute("mlwright.error_type", getattr(e, "type", None) or type(e).__name__)
            raise


def traced(fn: F) -> F:
    """``fn`` (a step's implementation) with contract attributes and phase spans on its activity span."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        span = trace.get_current_span()
        if not span.is_recording():
            return fn(*args, **kwargs)
        for arg in (*args, *kwargs.values()):
            if isinstance(arg, BaseModel):
                span.set_attributes(contract_attributes(arg, "mlwright.in"))
        phases = _Phases(span)
        token = _phases.set(phases)
        try:
            result = fn(*args, **kwargs)
        except BaseException as e:
            phases.close(e)
            raise
        finally:
            _phases.reset(token)
        phases.close(None)
        if isinstance(result, BaseModel):
            span.set_attributes(contract_attributes(result, "mlwright.out"))
        return result

    return wrapper  # type: ignore[return-value]


def phase(name: str) -> None:
    """Start the step's next phase span (a no-op outside a traced step)."""
    phases = _phases.get()
    if phases is not None:
        phases.switch(name)


def contract_attributes(model: BaseModel, prefix: str, depth: int = 0) -> dict[str, Any]:
    """The allow-listed fields of ``model`` and its nested contracts, as flat span attributes."""
    out: dict[str, Any] = {}
    for field in type(model).model_fields:
        value = getattr(model, field, None)
        key = f"{prefix}.{field}"
        if isinstance(value, BaseModel) and depth < _MAX_DEPTH:
            out.update(contract_attributes(value, key, depth + 1))
        elif field not in SAFE_FIELDS or value is None:
            continue
        elif isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items() if isinstance(v, int | str)})
        elif isinstance(value, int | float | str):
            out[key] = value
    return out


class _Phases:
    def __init__(self, parent: Span) -> None:
        self._context = trace.set_span_in_context(parent)
        self._tracer = trace.get_tracer(__name__)
        self._current: Span | None = None

    def switch(self, name: str) -> None:
        self.close(None)
        self._current = self._tracer.start_span(f"phase:{name}", context=self._context,
                                                attributes={"mlwright.phase": name})

    def close(self, error: BaseException | None) -> None:
        if self._current is None:
            return
        if error is not None:
            self._current.set_status(Status(StatusCode.ERROR, type(error).__name__))
        self._current.end()
        self._current = None
