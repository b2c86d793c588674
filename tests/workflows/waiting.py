"""Polling a running workflow's query until a condition holds (bounded)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio.client import WorkflowHandle

from mlwright.contracts.training import TrainingStatus


async def wait_for_status(handle: WorkflowHandle, condition: Callable[[TrainingStatus], bool],
                          timeout_s: float = 60) -> TrainingStatus:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        status = await handle.query("status", result_type=TrainingStatus)
        if condition(status):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached within {timeout_s}s; last status {status}")
        await asyncio.sleep(0.1)
