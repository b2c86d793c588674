"""Running catalog steps from workflow code, and parsing raw workflow input."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from mlwright.contracts.common import describe_validation_error
    from mlwright.errors import ErrorType
    from mlwright.queues import QueueSet
    from mlwright.steps import Step

InT = TypeVar("InT", bound=BaseModel)
OutT = TypeVar("OutT", bound=BaseModel)
ModelT = TypeVar("ModelT", bound=BaseModel)


async def run_step(step: Step[InT, OutT], arg: InT, queues: QueueSet, summary: str | None = None) -> OutT:
    policy = step.policy
    return await workflow.execute_activity(
        step.name,
        arg,
        result_type=step.output,
        task_queue=queues[step.resource],
        start_to_close_timeout=policy.start_to_close,
        heartbeat_timeout=policy.heartbeat,
        retry_policy=policy.retry,
        summary=summary or step.title,
    )


def parse_input(raw: RawValue, model: type[ModelT], workflow_type: str) -> ModelT:
    """Validate the run's input, failing the run (not retrying the task) when it is invalid.

    Were the run method typed with the model, a payload that does not validate would fail every
    workflow task and leave the run Running forever; here it fails at once, naming the field.
    """
    try:
        return workflow.payload_converter().from_payload(raw.payload, model)
    except ValueError as e:  # pydantic.ValidationError is a ValueError
        detail = describe_validation_error(e) if hasattr(e, "errors") else str(e)
        raise ApplicationError(
            f"invalid {workflow_type} input: {detail}", type=ErrorType.INVALID_INPUT, non_retryable=True
        ) from e


def queues_for_this_run() -> QueueSet:
    try:
        return QueueSet.from_workflow_queue(workflow.info().task_queue)
    except ValueError as e:
        if workflow.unsafe.is_replaying():
            # The Replayer runs histories on a synthetic queue ("replay-..."); the queue a step is
            # sent to is not part of the determinism check, so any prefix replays the same.
            return QueueSet()
        raise ApplicationError(str(e), type=ErrorType.INVALID_INPUT, non_retryable=True) from e
