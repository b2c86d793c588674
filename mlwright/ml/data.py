"""Read a run's table from a CSV/Parquet file or a read-only SQL query, once data_access allowed it."""

from __future__ import annotations

import sqlite3
from urllib.request import pathname2url

import pandas as pd
import sqlalchemy
from sqlalchemy.pool import NullPool

from mlwright.contracts.dataset import DatasetSpec
from mlwright.errors import InvalidInput
from mlwright.ml.data_access import DataAccess, FileSource, SqlSource
from mlwright.ml.redact import redact

_READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}
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
    # The DBAPI cursor directly, with no parameters: SQLAlchemy's text() would take ":x" for a bind
    # parameter and psycopg would rewrite "%b" inside a literal; the query must run as written.
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        if source.backend == "postgresql":
            cursor.execute("SET TRANSACTION READ ONLY")
        cursor.execute(source.query)
        columns = [column[0] for column in cursor.description or ()]
        frame = pd.DataFrame(cursor.fetchall(), columns=columns)
        connection.rollback()  # nothing to keep: a read never commits
        return frame
    except engine.dialect.loaded_dbapi.Error as e:
        if _is_query_fault(source.backend, e):
            raise InvalidInput("dataset.query", redact(str(e).strip())) from e
        raise  # a connection or server fault: the step's retry policy decides
    finally:
        connection.close()
        engine.dispose()


def _is_query_fault(backend: str, error: Exception) -> bool:
    """The user's query is at fault (another attempt would fail the same way), not the database."""
    if backend == "postgresql":
        # 42: syntax or access rule violation, 22: data exception, 25006: read-only transaction.
        state = getattr(error, "sqlstate", None) or ""
        return state.startswith(("42", "22")) or state == "25006"
    # SQLite reports its users' faults as OperationalError too, like a locked file; these are the former.
    message = str(error)
    return isinstance(error, sqlite3.ProgrammingError) or any(fault in message for fault in _SQLITE_QUERY_FAULTS)


def require_column(frame: pd.DataFrame, column: str, field: str) -> None:
    if column not in frame.columns:
        shown = ", ".join(map(str, frame.columns[:20]))
        raise InvalidInput(field, f"column {column!r} is not in the dataset (columns: {shown})")
