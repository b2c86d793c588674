"""The step ledger's writes to a SQLite file: one raw DBAPI connection per database and process.

Why not the engine, as every other store write: in the tracing benchmark a ledger row through
SQLAlchemy cost 0.54 ms of its thread's CPU (median of 506 attempts), five times its cost alone
(bench/README.md, "Where the ledger's CPU went"). Per row the engine checks a pooled connection
out and in (a rollback on return), runs its execution context, and hands each attempt's thread
the next connection of its pool, whose page cache SQLite drops because another connection wrote
since. One connection, kept open and used in turn under a lock, commits the same
``INSERT ... ON CONFLICT DO NOTHING`` with the same values in the attempt's thread: nothing about
durability or deduplication changes. The statement and the value conversions are SQLAlchemy's
own, compiled once, so a row reads back exactly as one the engine wrote.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from mlwright.store import ledger
from mlwright.store.db import sqlite_connection_pragmas


class SqliteLedgerWriter:
    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name != "sqlite" or not engine.url.database or engine.url.database == ":memory:":
            raise ValueError(f"SqliteLedgerWriter needs a SQLite file database, not {engine.url!r}")
        self.path = engine.url.database
        dialect = engine.dialect
        compiled = ledger.insert_statement("sqlite").compile(dialect=dialect, column_keys=ledger.COLUMNS)
        self._sql = compiled.string
        # The dialect's own conversions (datetimes to SQLite's text form, floats), in bind order.
        self._convert: list[tuple[str, Callable[[Any], Any] | None]] = [
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in compiled.positiontup or ()]
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def _values(self, row: dict[str, Any]) -> tuple:
        return tuple(convert(row.get(name)) if convert else row.get(name) for name, convert in self._convert)

    def record(self, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` in one transaction, skipping any whose key is already there."""
        if not rows:
            return
        values = [self._values(r) for r in rows]
        with self._lock:
            if self._connection is None:
                self._connection = self._connect()
            connection = self._connection
            try:
                if len(values) == 1:
                    # One statement in autocommit mode is its own transaction: one call into SQLite
                    # (one GIL release and re-take) instead of three with BEGIN and COMMIT.
                    connection.execute(self._sql, values[0])
                else:
                    connection.execute("BEGIN IMMEDIATE")
                    connection.executemany(self._sql, values)
                    connection.execute("COMMIT")
            except BaseException:
                # A connection left in a failed transaction would refuse every later row: start over.
                self.close_locked()
                raise

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        sqlite_connection_pragmas(connection, sync_each_commit=False)
        return connection

    def close_locked(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def close(self) -> None:
        with self._lock:
            self.close_locked()
