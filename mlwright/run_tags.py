"""Attribution tags (team, project) carried from a run's input to its steps in a header.

The workflow side reads ``tags`` from the raw input (before the workflow parses it) and adds the
header ``mlwright-tags`` to every activity and child workflow it starts; a child without tags of
its own inherits its parent's. Headers are not part of the determinism check, so runs recorded
before tags existed replay unchanged. This module imports no database code: it runs in the sandbox.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.worker import (
    ExecuteWorkflowInput,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

HEADER = "mlwright-tags"
TAG_NAMES = ("team", "project")
_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")  # as mlwright.contracts.common.TagValue


def from_input(args: tuple[Any, ...] | list[Any]) -> dict[str, str]:
    """The well-formed tags of a raw workflow input; anything else is left to input validation."""
    raw = args[0].get("tags") if len(args) == 1 and isinstance(args[0], dict) else None
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items() if k in TAG_NAMES and isinstance(v, str) and _VALUE.match(v)}


def to_header(tags: Mapping[str, str]) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(dict(tags), sort_keys=True).encode())


def from_headers(headers: Mapping[str, Payload]) -> dict[str, str]:
    payload = headers.get(HEADER)
    if payload is None:
        return {}
    try:
        raw = json.loads(payload.data)
    except ValueError:
        return {}
    return from_input([{"tags": raw}])


def workflow_interceptor_class(_: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
    return _Inbound


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        self._outbound = _Outbound(outbound)
        super().init(self._outbound)

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        self._outbound.tags = from_input(input.args) or from_headers(input.headers)
        return await super().execute_workflow(input)


class _Outbound(WorkflowOutboundInterceptor):
    tags: dict[str, str] = {}

    def _with_tags(self, headers: Mapping[str, Payload]) -> Mapping[str, Payload]:
        return {**headers, HEADER: to_header(self.tags)} if self.tags else headers

    def start_activity(self, input: StartActivityInput):  # type: ignore[no-untyped-def]
        input.headers = self._with_tags(input.headers)
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput):  # type: ignore[no-untyped-def]
        input.headers = self._with_tags(input.headers)
        return super().start_local_activity(input)

    async def start_child_workflow(self, input: StartChildWorkflowInput):  # type: ignore[no-untyped-def]
        input.headers = self._with_tags(input.headers)
        return await super().start_child_workflow(input)
