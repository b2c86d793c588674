"""Task queues are resource classes: each one is served by its own worker process and limits.

Every queue name carries a deployment prefix. A workflow learns the prefix from the queue it runs
on, so a pipeline started on ``<prefix>pipelines`` sends its steps to ``<prefix>io`` and so on,
with no configuration read inside workflow code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Resource(StrEnum):
    PIPELINES = "pipelines"  # workflows only: orchestration is light and latency-bound
    IO = "io"  # extraction, registry and deployment writes: waits on disks and networks
    CPU = "cpu"  # quality checks, features, evaluation: short CPU-bound steps
    TRAINING = "training"  # model fits: long, memory-hungry, few at once


@dataclass(frozen=True)
class QueueSet:
    prefix: str = ""

    def __getitem__(self, resource: Resource) -> str:
        return f"{self.prefix}{resource.value}"

    @property
    def pipelines(self) -> str:
        return self[Resource.PIPELINES]

    @classmethod
    def from_workflow_queue(cls, task_queue: str) -> QueueSet:
        suffix = Resource.PIPELINES.value
        if not task_queue.endswith(suffix):
            # Refuse rather than guess: a wrong guess sends steps to a queue nobody polls.
            raise ValueError(f"pipelines must run on a task queue ending in {suffix!r}, not {task_queue!r}")
        return cls(prefix=task_queue[: -len(suffix)])
