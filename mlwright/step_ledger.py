"""Records every activity attempt in the step ledger (mlwright.store.ledger) and the worker's metrics.

The measuring wraps the step's function inside its executor thread, so ``cpu_s`` is that thread's
CPU time (``time.thread_time``), not the process's (other steps run beside it). Peak RSS delta is
how far the attempt raised the process's high-water mark (VmHWM; ``ru_maxrss`` off Linux): exact
for one step at a time, a shared upper bound when several run at once, zero for a step that stays
under an earlier peak. The row is written in the same thread before the attempt's result goes back to the server:
one INSERT per attempt, no thread hand-off, no batch that a crash could lose (on SQLite committed
without an fsync: it survives a process crash, not a power loss). A write that fails is logged and
never fails the step (the ledger observes; it must not change what a run does). A repeated write
is a no-op.

All interceptors of a process share one engine per database. On a SQLite file they write through
one kept-open connection (mlwright.store.ledger_writer: under half the CPU per row) and take
turns on its lock: two attempts ending together otherwise collide on SQLite's write lock, and the
loser sleeps in SQLite's busy handler (1, 2, 5 ms ...) where the lock would have handed over in
about 0.1 ms (bench/README.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import logging
import os
import resource
import sys
import threading
import time
import weakref
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import CancelledError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from mlwright import metrics, run_tags
from mlwright.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from mlwright.store.ledger_writer import SqliteLedgerWriter

# mlwright.store.ledger (SQLModel, SQLAlchemy) is imported where a row is written, not here: the
# workflow worker carries this interceptor for its run-tags header and never loads them (issue 10).

log = logging.getLogger(__name__)
_RSS_UNIT_MB = 1 / (1024 * 1024) if sys.platform == "darwin" else 1 / 1024  # bytes on macOS, KiB on Linux
_ROWS_IN = ("rows_in", "rows", "expected_rows")
_ROWS_OUT = ("rows_out", "rows")
# Weak: an engine lives as long as a worker's interceptor holds it (tests open one database each).
_engines: weakref.WeakValueDictionary[str, Engine] = weakref.WeakValueDictionary()
_engines_lock = threading.Lock()
# A SQLite file's rows go through one kept-open connection per engine (mlwright.store.ledger_writer),
# whose lock makes the process's writers take turns.
_writers: weakref.WeakKeyDictionary[Engine, SqliteLedgerWriter] = weakref.WeakKeyDictionary()
_memory_writes = threading.Lock()


def ledger_engine(url: str) -> Engine:
    """The process's ledger engine for ``url``, opened on first use."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            from mlwright.store.db import open_store

            # Its own engine, committing without an fsync (see make_engine): one row per attempt
            # stays well under a millisecond; the store's other writes keep their fsync.
            engine = open_store(url, sync_each_commit=False)
            _engines[url] = engine
        return engine


def write_rows(engine: Engine, rows: list[dict[str, Any]]) -> None:
    database = engine.url.database
    if engine.dialect.name != "sqlite":
        from mlwright.store import ledger

        ledger.record(engine, rows)  # PostgreSQL: its pool's connections write side by side
    elif database and database != ":memory:":
        (_writers.get(engine) or _writer_for(engine)).record(rows)
    else:  # a test's in-memory database: its one shared connection, in turn
        from mlwright.store import ledger

        with _memory_writes:
            ledger.record(engine, rows)


def _writer_for(engine: Engine) -> SqliteLedgerWriter:
    from mlwright.store.ledger_writer import SqliteLedgerWriter

    with _engines_lock:
        writer = _writers.get(engine)
        if writer is None:
            writer = _writers[engine] = SqliteLedgerWriter(engine)
        return writer


class StepLedgerInterceptor(Interceptor):
    """Worker interceptor: the ledger for activities, the run's tags header for workflows."""

    def __init__(self, settings: Settings, resource_class: str, engine: Engine | None = None) -> None:
        self.settings, self.resource_class = settings, resource_class
        self._engine = engine

    @functools.cached_property
    def engine(self) -> Engine:
        return self._engine or ledger_engine(self.settings.resolved_database_url)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self)

    def workflow_interceptor_class(self, input):  # type: ignore[no-untyped-def]
        return run_tags.workflow_interceptor_class(input)

    def write(self, row: dict[str, Any], result: Any = None) -> None:
        try:
            if self.settings.ledger:
                write_rows(self.engine, [row])
            metrics.observe_attempt(row, result)
        except Exception:  # noqa: BLE001 - observing must not fail the step
            log.exception("step ledger: could not record %s attempt %s", row["step"], row["attempt"])


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: StepLedgerInterceptor) -> None:
        super().__init__(next)
        self.owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        started_at = datetime.now(UTC)
        attempt = _Attempt(self.owner, activity.info(), run_tags.from_headers(input.headers), input.args)
        if inspect.iscoroutinefunction(input.fn):
            # An async step (a service call such as poll_training_child) runs on the event loop:
            # wrapping it in a plain partial would make the SDK treat it as a thread-pool step.
            return await self._execute_async(input, attempt, started_at)
        try:
            return await super().execute_activity(dataclasses.replace(input, fn=functools.partial(attempt.run,
                                                                                                   input.fn)))
        except BaseException as e:
            if not attempt.started:
                # Refused before the step's function ran (an interceptor further in, e.g. fault
                # injection, or the worker shutting down): still an attempt in the history. Once
                # the function started, its thread records the attempt, however the wait here ended.
                outcome, error_type = _outcome(e)
                row = attempt.row(started_at, 0.0, 0.0, 0.0, outcome, error_type, None)
                await asyncio.get_running_loop().run_in_executor(None, self.owner.write, row)
            raise

    async def _execute_async(self, input: ExecuteActivityInput, attempt: _Attempt, started_at: datetime) -> Any:
        wall0 = time.perf_counter()
        outcome, error_type, result = "completed", None, None
        try:
            result = await super().execute_activity(input)
            return result
        except BaseException as e:
            outcome, error_type = _outcome(e)
            raise
        finally:
            # CPU time of a coroutine sharing the loop is not separable from its neighbours': 0.
            row = attempt.row(started_at, time.perf_counter() - wall0, 0.0, 0.0, outcome, error_type, result)
            await asyncio.get_running_loop().run_in_executor(None, self.owner.write, row, result)


class _Attempt:
    def __init__(self, owner: StepLedgerInterceptor, info: activity.Info, tags: dict[str, str], args: Any) -> None:
        self.owner, self.info, self.tags, self.args = owner, info, tags, args
        self.started = False

    def run(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` in the executor thread, measured and recorded."""
        self.started = True
        started_at, wall0, cpu0, rss0 = datetime.now(UTC), time.perf_counter(), time.thread_time(), _peak_rss_mb()
        outcome, error_type, result = "completed", None, None
        try:
            result = fn(*args)
            return result
        except BaseException as e:
            outcome, error_type = _outcome(e)
            raise
        finally:
            wall_s, cpu_s = time.perf_counter() - wall0, time.thread_time() - cpu0
            self.owner.write(self.row(started_at, wall_s, cpu_s, max(0.0, _peak_rss_mb() - rss0), outcome,
                                      error_type, result), result)

    def row(self, started_at: datetime, wall_s: float, cpu_s: float, rss_delta: float, outcome: str,
            error_type: str | None, result: Any) -> dict[str, Any]:
        from mlwright.store import ledger

        info, s, resource_class = self.info, self.owner.settings, self.owner.resource_class
        return {
            "pipeline": info.workflow_type or "", "workflow_id": info.workflow_id or "",
            "run_id": info.workflow_run_id or "", "step": info.activity_type, "activity_id": info.activity_id,
            "attempt": info.attempt, "queue": info.task_queue, "resource": resource_class,
            "started_at": started_at, "ended_at": datetime.now(UTC), "wall_s": wall_s, "cpu_s": cpu_s,
            "peak_rss_delta_mb": rss_delta, "rows_in": _rows(self.args, _ROWS_IN),
            "rows_out": _rows((result,), _ROWS_OUT), "outcome": outcome, "error_type": error_type,
            "cost": ledger.cost(resource_class, cpu_s, wall_s, rss_delta, s.cpu_hour_price, s.gb_hour_price),
            "team": self.tags.get("team"), "project": self.tags.get("project"),
        }


def _outcome(error: BaseException) -> tuple[str, str]:
    if isinstance(error, CancelledError | asyncio.CancelledError):
        return "cancelled", "CancelledError"
    return "failed", getattr(error, "type", None) or type(error).__name__


_status: tuple[int, int] | None = None  # (pid, descriptor of that process's /proc/self/status)


def _peak_rss_mb() -> float:
    """This process's own peak RSS: VmHWM on Linux. Not ``ru_maxrss`` there: Linux carries into it
    the peak of the process that forked or exec'd this one, so a worker started by a 2 GB parent
    (a benchmark that seeded a million patients) recorded a delta of 0 for every step."""
    global _status
    if sys.platform != "linux":
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _RSS_UNIT_MB
    pid = os.getpid()
    if _status is None or _status[0] != pid:  # a forked child's inherited descriptor is its parent's
        _status = (pid, os.open(f"/proc/{pid}/status", os.O_RDONLY | os.O_CLOEXEC))
    data = os.pread(_status[1], 8192, 0)  # one read of a kept descriptor: ~8 us
    start = data.index(b"VmHWM:") + 6
    return int(data[start:data.index(b"kB", start)]) / 1024


def _rows(values: Any, fields: tuple[str, ...], depth: int = 0) -> int | None:
    """The first row count among the contracts' fields (one level of nesting): counts only."""
    for value in values:
        if not isinstance(value, BaseModel):
            continue
        for field in fields:
            count = getattr(value, field, None)
            if isinstance(count, int) and not isinstance(count, bool):
                return count
        if depth == 0:
            nested = [getattr(value, f, None) for f in type(value).model_fields]
            found = _rows(nested, fields, 1)
            if found is not None:
                return found
    return None
