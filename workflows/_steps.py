"""Running catalog steps from workflow code, and parsing raw workflow input."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow
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


def parse_input(raw: tuple[object, ...], model: type[ModelT], workflow_type: str) -> ModelT:
    """The run's one input, validated; any problem fails the run (not its workflow task), named.

    The run method takes ``*raw`` so that the SDK hands it whatever the start carried: no input,
    several, or a payload that is not JSON (``--input-meta encoding=binary/plain`` arrives as bytes).
    Were it typed with the model, each of those would fail every workflow task and leave the run
    Running forever; here each fails the run at once with a message a CLI user can act on.
    """
    try:
        return model.model_validate(_single_json_object(raw))
    except ApplicationError:
        raise
    except ValueError as e:  # pydantic.ValidationError is a ValueError
        detail = describe_validation_error(e) if hasattr(e, "errors") else str(e)
        raise _invalid(workflow_type, detail) from e
    except Exception as e:  # noqa: BLE001 - any other error validating input is the input's fault
        raise _invalid(workflow_type, f"{type(e).__name__}: {e}") from e


def _single_json_object(raw: tuple[object, ...]) -> dict:
    if len(raw) != 1:
        got = "no input" if not raw else f"{len(raw)} inputs"
        raise ValueError(f"expected exactly one JSON object (--input '{{...}}'), got {got}")
    (value,) = raw
    if isinstance(value, bytes | bytearray):
        raise ValueError("the input is not JSON (it arrived with encoding binary/plain); "
                         "drop --input-meta and pass a JSON object")
    if not isinstance(value, dict):
        raise ValueError(f"the input must be a JSON object, got a JSON {_json_kind(value)}")
    return value


def _json_kind(value: object) -> str:
    kinds = {list: "array", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def _invalid(workflow_type: str, detail: str) -> ApplicationError:
    return ApplicationError(f"invalid {workflow_type} input: {detail}", type=ErrorType.INVALID_INPUT,
                            non_retryable=True)


def queues_for_this_run() -> QueueSet:
    try:
        return QueueSet.from_workflow_queue(workflow.info().task_queue)
    except ValueError as e:
        if workflow.unsafe.is_replaying():
            # The Replayer runs histories on a synthetic queue ("replay-..."); the queue a step is
            # sent to is not part of the determinism check, so any prefix replays the same.
            return QueueSet()
        raise ApplicationError(str(e), type=ErrorType.INVALID_INPUT, non_retryable=True) from e
