"""A local SQLite store of finished spans, so a run's trace can be seen without a collector.

Every worker process of the dev stack exports into the same file (WAL, busy timeout). The file is
created 0600 (SQLite gives its WAL and journal the same mode): spans name steps, queues and models,
never patient data, but they are nobody else's business. It is bounded: spans older than the
configured age and the oldest beyond the configured count are dropped as new ones arrive.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from mlwright.settings import Settings

_SCHEMA = """
create table if not exists spans (
    trace_id text not null, span_id text not null, parent_id text, name text not null,
    start_ns integer not null, end_ns integer not null, status text not null, status_message text,
    workflow_id text, service text, attributes text not null,
    primary key (trace_id, span_id)
);
create index if not exists spans_workflow on spans (workflow_id, start_ns);
"""
_PRUNE_EVERY_S = 30.0


@dataclass(frozen=True)
class StoredSpan:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start_ns: int
    end_ns: int
    status: str  # "ok", "error" or "unset"
    attributes: dict[str, Any]


def open_span_store(settings: Settings) -> SpanStore:
    path = settings.trace_store_path or settings.home / "traces.db"
    return SpanStore(path, max_spans=settings.trace_store_max_spans,
                     max_age_s=settings.trace_store_max_age_days * 86400)


class SpanStore:
    def __init__(self, path: Path, *, max_spans: int = 200_000, max_age_s: float = 7 * 86400) -> None:
        self.path = Path(path).resolve()
        self.max_spans, self.max_age_s = max_spans, max_age_s
        self._lock = threading.Lock()
        self._last_prune = 0.0
        self._writer: sqlite3.Connection | None = None  # kept open: the exporter writes every half second

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        conn.execute("pragma journal_mode=wal")
        conn.executescript(_SCHEMA)
        return conn

    def write(self, spans: Sequence[ReadableSpan]) -> None:
        rows = [_row(s) for s in spans if s.context is not None]
        with self._lock:
            if self._writer is None:
                self._writer = self._connect()
            conn = self._writer
            try:
                conn.execute("begin immediate")
                conn.executemany("insert or replace into spans values (?,?,?,?,?,?,?,?,?,?,?)", rows)
                if time.monotonic() - self._last_prune > _PRUNE_EVERY_S:
                    self._prune(conn)
                conn.execute("commit")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("rollback")
                self.close()
                raise

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def prune(self) -> None:
        with self._lock:
            conn = self._connect()
            try:
                self._prune(conn)
            finally:
                conn.close()

    def _prune(self, conn: sqlite3.Connection) -> None:
        self._last_prune = time.monotonic()
        conn.execute("delete from spans where end_ns < ?", (time.time_ns() - int(self.max_age_s * 1e9),))
        excess = conn.execute("select count(*) from spans").fetchone()[0] - self.max_spans
        if excess > 0:  # rowids grow with inserts: the smallest are the oldest spans
            conn.execute("delete from spans where rowid in (select rowid from spans order by rowid limit ?)",
                         (excess,))

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with self._lock:
            conn = self._connect()
            try:
                return conn.execute("select count(*) from spans").fetchone()[0]
            finally:
                conn.close()

    def trace_ids_of(self, workflow_id: str) -> list[str]:
        """Trace ids with spans of ``workflow_id``, the most recently started first."""
        return [r[0] for r in self._query(
            "select trace_id from spans where workflow_id = ? group by trace_id order by max(start_ns) desc",
            (workflow_id,))]

    def spans_of(self, trace_id: str) -> list[StoredSpan]:
        rows = self._query("select trace_id, span_id, parent_id, name, start_ns, end_ns, status, attributes "
                           "from spans where trace_id = ? order by start_ns", (trace_id,))
        return [StoredSpan(*row[:7], attributes=json.loads(row[7])) for row in rows]

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        if not self.path.exists():
            return []
        conn = self._connect()
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


def _row(span: ReadableSpan) -> tuple:
    ctx = span.context
    attrs = {k: list(v) if isinstance(v, tuple) else v for k, v in (span.attributes or {}).items()}
    status = {StatusCode.OK: "ok", StatusCode.ERROR: "error"}.get(span.status.status_code, "unset")
    service = span.resource.attributes.get("service.name") if span.resource else None
    return (format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"),
            format(span.parent.span_id, "016x") if span.parent else None, span.name,
            span.start_time or 0, span.end_time or span.start_time or 0, status, span.status.description,
            attrs.get("temporalWorkflowID"), service, json.dumps(attrs, default=str))


class SpanStoreExporter(SpanExporter):
    def __init__(self, store: SpanStore) -> None:
        self.store = store

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            self.store.write(spans)
        except sqlite3.Error:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.store.close()
