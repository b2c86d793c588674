"""Read a table from a CSV/Parquet file or a SQL database."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pandas as pd
import sqlalchemy
from sqlalchemy.exc import DBAPIError, NoSuchModuleError, ProgrammingError

from mlwright.errors import DatasetNotFound, InvalidInput

_READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}


def is_sql_url(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def load_table(uri: str, query: str | None = None) -> pd.DataFrame:
    if is_sql_url(uri):
        return _read_sql(uri, query or "")
    path = Path(url2pathname(urlparse(uri).path)) if uri.startswith("file://") else Path(uri)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise InvalidInput("dataset.uri", f"{path.name!r} is neither .csv nor .parquet")
    if not path.is_file():
        raise DatasetNotFound(f"dataset.uri: no file at {path.resolve()}", uri=uri)
    try:
        return reader(path)
    except (ValueError, pd.errors.ParserError, OSError) as e:
        raise InvalidInput("dataset.uri", f"cannot read {path.name}: {e}") from e


def _read_sql(url: str, query: str) -> pd.DataFrame:
    try:
        engine = sqlalchemy.create_engine(url)
    except (NoSuchModuleError, sqlalchemy.exc.ArgumentError) as e:
        raise InvalidInput("dataset.uri", f"not a database URL SQLAlchemy knows: {e}") from e
    try:
        # Executed here rather than by pandas.read_sql, which would wrap the driver's error and
        # hide whether the fault is the user's query or a transient connection problem.
        with engine.connect() as connection:
            result = connection.execute(sqlalchemy.text(query))
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    except ProgrammingError as e:
        raise InvalidInput("dataset.query", str(e.orig).strip()) from e
    except DBAPIError as e:
        # SQLite reports a missing table as an OperationalError; that is the user's query, not a fault.
        message = str(e.orig).strip()
        if "no such table" in message or "no such column" in message or "syntax error" in message:
            raise InvalidInput("dataset.query", message) from e
        raise
    finally:
        engine.dispose()


def require_column(frame: pd.DataFrame, column: str, field: str) -> None:
    if column not in frame.columns:
        shown = ", ".join(map(str, frame.columns[:20]))
        raise InvalidInput(field, f"column {column!r} is not in the dataset (columns: {shown})")
