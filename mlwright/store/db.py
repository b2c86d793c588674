"""Engine and session factory: the only place that creates either."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, event, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import configure_mappers
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from mlwright.private import private_file
from mlwright.store import ledger, tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from mlwright.store import monitor as _monitor_tables  # noqa: F401  (issue 7: RetrainingMonitor tables)


def make_engine(url: str, sync_each_commit: bool = True) -> Engine:
    """An engine for ``url``; SQLite gets the settings several worker processes need.

    ``sync_each_commit=False`` (the step ledger's engine) sets SQLite's ``synchronous=NORMAL``: in
    WAL mode a commit then survives the process crashing but not the machine losing power, and
    costs about 0.25 ms instead of an fsync (3-4 ms here).
    """
    if url.startswith("sqlite"):
        in_memory = url in {"sqlite://", "sqlite:///:memory:"}
        if not in_memory:
            # Created owner-only before SQLite opens it; SQLite gives its -wal/-shm files the same mode.
            private_file(Path(make_url(url).database))
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **({"poolclass": StaticPool} if in_memory else {}),
        )
        event.listen(engine, "connect",
                     lambda dbapi_connection, _record: sqlite_connection_pragmas(dbapi_connection, sync_each_commit))
        return engine
    return create_engine(url, pool_pre_ping=True)


def sqlite_connection_pragmas(dbapi_connection, sync_each_commit: bool = True) -> None:
    """What every SQLite connection of mlwright sets, the engine's and the ledger writer's alike."""
    # WAL lets the io and cpu workers read while another process writes; busy_timeout makes a
    # writer wait for the lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    if not sync_each_commit:
        cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def open_store(url: str, sync_each_commit: bool = True) -> Engine:
    """An engine for ``url`` with mlwright's tables present."""
    engine = make_engine(url, sync_each_commit)
    init_db(engine)
    # Mappers configure themselves lazily on first use; done here, at worker start, a failure
    # inside a step can never leave them half-configured (and every later query failing).
    configure_mappers()
    return engine


def init_db(engine: Engine) -> None:
    """Create missing tables. Idempotent, and safe for several workers starting at once."""
    table_count = len(SQLModel.metadata.tables)
    for attempt in range(table_count + 1):
        try:
            SQLModel.metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            # Another process created a table between our existence check and our CREATE. Each
            # lost race means one more table exists, so this ends within one pass per table.
            if attempt == table_count:
                raise


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
