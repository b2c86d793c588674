"""Read a run's table from a CSV/Parquet file or a read-only SQL query, once data_access allowed it."""

from __future__ import annotations

import sqlite3
from urllib.request import pathname2url

import pandas as pd
import sqlalchemy
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.pool import NullPool

from mlwright.contracts.dataset import DatasetSpec
from mlwright.errors import InvalidInput
from mlwright.ml.data_access import DataAccess, FileSource, SqlSource
from mlwright.ml.redact import redact

_READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}
# SQLite reports the user's own query faults as OperationalError, like a locked file; these are the former.
_SQLITE_QUERY_FAULTS = ("no such table", "no such column", "syntax error", "readonly database",
                        "one statement at a time", "attempt to write")


def load_table(spec: DatasetSpec, access: DataAccess) -> pd.DataFrame:
    source = access.resolve(spec)
    if isinstance(source, SqlSource):
        return _read_sql(source)
    return _read_file(source, "dataset.path" if spec.source else "dataset.uri")


def _read_file(source: FileSource, field: str) -> pd.DataFrame:
    path = source.path
    try:
        return _READERS[path.suffix.lower()](path)
    except (ValueError, pd.errors.ParserError, OSError) as e:
        raise InvalidInput(field, f"cannot read {path.name}: {redact(str(e))}") from e


def _read_only_engine(source: SqlSource) -> sqlalchemy.Engine:
    if source.backend == "sqlite":
        target = f"file:{pathname2url(str(source.sqlite_file))}?mode=ro"
        # mode=ro: SQLite itself refuses every write, whatever the statement turns out to be.
        return sqlalchemy.create_engine("sqlite://", poolclass=NullPool,
                                        creator=lambda: sqlite3.connect(target, uri=True, check_same_thread=False))
    # default_transaction_read_only covers any transaction the session opens; SET TRANSACTION below
    # covers this one even if a pooler drops startup options.
    url = sqlalchemy.make_url(source.url or "")
    options = f"{url.query.get('options', '')} -c default_transaction_read_only=on".strip()
    return sqlalchemy.create_engine(url, poolclass=NullPool, connect_args={"options": options})


def _read_sql(source: SqlSource) -> pd.DataFrame:
    engine = _read_only_engine(source)
    try:
        # Executed here rather than by pandas.read_sql, which would wrap the driver's error and
        # hide whether the fault is the user's query or a transient connection problem.
        with engine.connect() as connection:
            if source.backend == "postgresql":
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            result = connection.exec_driver_sql(source.query)
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
            connection.rollback()  # nothing to keep: a read never commits
            return frame
    except ProgrammingError as e:
        raise InvalidInput("dataset.query", redact(str(e.orig).strip())) from e
    except DBAPIError as e:
        message = str(e.orig).strip()
        if source.backend == "sqlite" and any(fault in message for fault in _SQLITE_QUERY_FAULTS):
            raise InvalidInput("dataset.query", redact(message)) from e
        if source.backend == "postgresql" and getattr(e.orig, "sqlstate", "") in ("25006", "42501"):
            # read_only_sql_transaction, insufficient_privilege: the query tried to change something.
            raise InvalidInput("dataset.query", redact(message)) from e
        raise
    finally:
        engine.dispose()


def require_column(frame: pd.DataFrame, column: str, field: str) -> None:
    if column not in frame.columns:
        shown = ", ".join(map(str, frame.columns[:20]))
        raise InvalidInput(field, f"column {column!r} is not in the dataset (columns: {shown})")
