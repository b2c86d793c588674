"""After a step, hand back to the operating system what it freed.

A worker runs its steps on a thread pool. glibc gives each thread a heap of its own (an arena) and
Arrow's jemalloc pool keeps freed pages for its decay time, so what one step frees is not what the
next step, on another thread, allocates from. At a million patients the cpu worker's RSS stayed at
1.0-1.4 GB between steps, the next step's own peak came on top, and the worker peaked at 2.2 GB.
Purging Arrow's pool and trimming glibc's heaps after each step that left the process's RSS more
than ``worker_release_memory_growth_mb`` above where it began brought the RSS between steps back to
0.2-0.3 GB (bench/README.md). The release costs a few milliseconds (3 ms at 300 MB), so a step that
grew nothing, a short one, does not pay for it.

It runs in the step's thread after the step's function (and after the ledger has measured it), so
it never blocks the event loop and never counts in a step's own figures.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import functools
import inspect
import logging
import os
import sys
from typing import Any

from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

log = logging.getLogger(__name__)


def _malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


_TRIM = _malloc_trim()
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20 if hasattr(os, "sysconf") else 0.0


def rss_mb() -> float | None:
    """This process's resident memory now (one read of /proc/self/statm, ~10 µs); None off Linux."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_MB
    except OSError:
        return None


def release_freed_memory() -> None:
    pyarrow = sys.modules.get("pyarrow")  # never imported here: a worker that has not loaded it has nothing there
    if pyarrow is not None:
        pyarrow.default_memory_pool().release_unused()
    if _TRIM is not None:
        _TRIM(0)


class ReleaseFreedMemory(Interceptor):
    def __init__(self, growth_mb: float) -> None:
        self.growth_mb = growth_mb

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self)

    def after_step(self, rss_at_start: float | None) -> None:
        rss = rss_mb()
        if rss is not None and rss_at_start is not None and rss - rss_at_start >= self.growth_mb:
            try:
                release_freed_memory()
            except Exception:  # noqa: BLE001 - an optimisation must not fail the step
                log.exception("could not release freed memory")


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: ReleaseFreedMemory) -> None:
        super().__init__(next)
        self.owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if inspect.iscoroutinefunction(input.fn):  # a service call on the event loop allocates little
            return await super().execute_activity(input)
        return await super().execute_activity(dataclasses.replace(input, fn=functools.partial(self._run, input.fn)))

    def _run(self, fn: Any, *args: Any) -> Any:
        at_start = rss_mb()
        try:
            return fn(*args)
        finally:
            self.owner.after_step(at_start)
