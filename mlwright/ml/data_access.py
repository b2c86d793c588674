"""The input boundary: which file or database a run's `dataset` may read, and how.

A run is started by whoever may start workflows; the worker that reads its data has far wider
rights (its file system, its databases). So a dataset is resolved only against sources the
operator named in settings: files are resolved (symlinks too) and must lie inside a data root;
SQL is one SELECT statement, parsed with sqlglot (never matched with regexes), on a connection
opened read-only; mlwright's own state (store database, artifacts, state dir) is never data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import sqlglot
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from mlwright.contracts.dataset import DatasetSpec, is_database_url
from mlwright.errors import DatasetNotFound, InvalidInput
from mlwright.settings import Settings

FILE_SUFFIXES = frozenset({".csv", ".parquet", ".pq"})
SQLITE_SUFFIXES = frozenset({".db", ".sqlite", ".sqlite3"})
_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres"}
# Statement kinds that change something; found anywhere in the tree, e.g. a DELETE inside a CTE.
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Command,
           exp.Into, exp.Lock, exp.TruncateTable)

# Functions that reach past the tables a query names: the server's files, other databases, the
# session's settings, other sessions, or the clock. A read-only role should deny most of them;
# refusing them here as well keeps a generously granted connection from becoming a file reader.
_SERVER_FUNCTIONS = frozenset({
    "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_ls_logdir", "pg_ls_waldir",
    "pg_ls_tmpdir", "pg_ls_archive_statusdir", "lo_import", "lo_export", "lo_get", "lo_open", "lo_from_bytea",
    "dblink", "dblink_exec", "dblink_connect", "dblink_send_query", "pg_terminate_backend", "pg_cancel_backend",
    "pg_reload_conf", "pg_rotate_logfile", "set_config", "pg_sleep", "pg_sleep_for", "pg_sleep_until",
    "pg_advisory_lock", "pg_advisory_xact_lock", "query_to_xml", "query_to_xml_and_xmlschema", "query_to_json",
    "load_extension", "readfile", "writefile", "fts3_tokenizer", "edit",
})


@dataclass(frozen=True)
class FileSource:
    path: Path


@dataclass(frozen=True)
class SqlSource:
    query: str
    backend: str  # "sqlite" or "postgresql"
    sqlite_file: Path | None = None
    url: str | None = None  # a named connection's URL (server databases)


@dataclass(frozen=True)
class DataAccess:
    roots: Mapping[str, Path]
    connections: Mapping[str, str]
    raw_uris: bool
    protected: tuple[Path, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> DataAccess:
        return cls(roots=settings.resolved_data_roots, connections=dict(settings.data_connections),
                   raw_uris=settings.allows_raw_dataset_uris, protected=tuple(settings.protected_paths))

    def resolve(self, spec: DatasetSpec) -> FileSource | SqlSource:
        """Where ``spec`` may read, or an InvalidInput / DatasetNotFound naming the field."""
        source = self._named(spec) if spec.source is not None else self._raw(spec)
        if isinstance(source, SqlSource):
            require_single_select(source.query, _DIALECTS[source.backend])
        return source

    def _named(self, spec: DatasetSpec) -> FileSource | SqlSource:
        name = spec.source or ""
        if name in self.connections:
            if spec.path is not None:
                raise InvalidInput("dataset.path", f"source {name!r} is a database connection: give dataset.query")
            url = make_url(self.connections[name])
            backend = url.get_backend_name()
            if backend not in _DIALECTS:
                raise InvalidInput("dataset.source", f"connection {name!r} is {backend}, which mlwright cannot hold "
                                   "to read-only")
            if backend == "sqlite":
                return SqlSource(query=spec.query or "", backend=backend, sqlite_file=Path(url.database or ""))
            return SqlSource(query=spec.query or "", backend=backend, url=self.connections[name])
        if name not in self.roots:
            known = sorted([*self.roots, *self.connections])
            raise InvalidInput("dataset.source", f"unknown data source {name!r}; this deployment has {known}")
        if spec.path is None:
            raise InvalidInput("dataset.query", f"source {name!r} is a data root: name a SQLite file in dataset.path")
        path = self._confine(self.roots[name] / spec.path, "dataset.path", spec.path)
        return _file_or_sqlite(path, spec.query, "dataset.path")

    def _raw(self, spec: DatasetSpec) -> FileSource | SqlSource:
        uri = spec.uri or ""
        if not self.raw_uris:
            raise InvalidInput("dataset.uri", "this deployment accepts only named data sources: use dataset.source "
                               f"(one of {sorted([*self.roots, *self.connections])}) with dataset.path or .query")
        if is_database_url(uri):
            try:
                database = make_url(uri).database if uri.startswith("sqlite:") else None
            except (ArgumentError, ValueError) as e:
                raise InvalidInput("dataset.uri", "is not a database URL SQLAlchemy can parse") from e
            if not database or database == ":memory:":
                raise InvalidInput("dataset.uri", "only sqlite:///<file> URLs are accepted; name server databases "
                                   "in settings (data_connections) and use dataset.source")
            path = self._confine(Path(database), "dataset.uri", uri)
            return SqlSource(query=spec.query or "", backend="sqlite", sqlite_file=path)
        if uri.startswith("file://"):
            parsed = urlparse(uri)
            if parsed.netloc not in ("", "localhost"):
                raise InvalidInput("dataset.uri", f"file URI on another host ({parsed.netloc!r}) is not readable")
            path = Path(url2pathname(parsed.path))
        else:
            path = Path(uri)
        return _file_or_sqlite(self._confine(path, "dataset.uri", uri), None, "dataset.uri")

    def _confine(self, candidate: Path, field: str, shown: str) -> Path:
        # resolve() follows every symlink, so a link inside a root cannot lead out of it.
        try:
            real = candidate.resolve()
        except (OSError, RuntimeError) as e:  # a symlink loop, a name too long
            raise InvalidInput(field, f"{shown!r} cannot be resolved to a file ({type(e).__name__})") from e
        root = next((r for r in self.roots.values() if real.is_relative_to(r)), None)
        if root is None:
            roots = ", ".join(f"{name}: {path}" for name, path in self.roots.items()) or "none configured"
            raise InvalidInput(field, f"{shown!r} is outside the data roots ({roots})")
        for own in self.protected:
            # A data root may sit inside the state dir (the dev default <home>/data); nothing else there may.
            if real == own or (real.is_relative_to(own) and not root.is_relative_to(own)) or _same_file(real, own):
                raise InvalidInput(field, f"{shown!r} is mlwright's own state, never a dataset")
        return real


def _file_or_sqlite(path: Path, query: str | None, field: str) -> FileSource | SqlSource:
    suffix = path.suffix.lower()
    if query is not None:
        if suffix not in SQLITE_SUFFIXES:
            raise InvalidInput("dataset.query", f"applies to a SQLite file ({', '.join(sorted(SQLITE_SUFFIXES))}) "
                               f"or a database connection, not {path.name!r}")
    elif suffix not in FILE_SUFFIXES:
        raise InvalidInput(field, f"{path.name!r} is neither .csv nor .parquet")
    try:
        exists, regular = path.exists(), path.is_file()
    except OSError as e:
        raise InvalidInput(field, f"{path.name!r} cannot be examined ({type(e).__name__})") from e
    if not exists:
        raise DatasetNotFound(f"{field}: no file at {path}", field=field)
    if not regular:
        raise InvalidInput(field, f"{path.name!r} is not a regular file")
    if query is not None:
        return SqlSource(query=query, backend="sqlite", sqlite_file=path)
    return FileSource(path)


def _same_file(path: Path, other: Path) -> bool:
    # Catches a hard link to the store database placed inside a data root.
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False


def require_single_select(query: str, dialect: str) -> None:
    """Refuse anything but one read-only SELECT (a UNION of SELECTs is one), naming dataset.query."""
    try:
        statements = [s for s in sqlglot.parse(query, read=dialect) if s is not None]
    except ParseError as e:
        where = e.errors[0] if e.errors else {}
        detail = f"{where.get('description', 'cannot parse')} at line {where.get('line')}, column {where.get('col')}"
        raise InvalidInput("dataset.query", f"is not valid {dialect} SQL: {detail}") from e
    except SqlglotError as e:
        raise InvalidInput("dataset.query", f"is not valid {dialect} SQL: {e}") from e
    except RecursionError as e:
        raise InvalidInput("dataset.query", "is nested too deeply to check") from e
    if len(statements) != 1:
        raise InvalidInput("dataset.query", f"must be a single SELECT statement, got {len(statements)} statements")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise InvalidInput("dataset.query", f"must be a SELECT statement, got {statement.key.upper()}")
    writes = sorted({node.key.upper() for node in statement.walk() if isinstance(node, _WRITES)})
    if writes or statement.args.get("into") or statement.args.get("locks"):
        raise InvalidInput("dataset.query", f"must only read; it contains {', '.join(writes) or 'INTO/FOR UPDATE'}")
    called = {(f.name if isinstance(f, exp.Anonymous) else f.sql_name()).lower() for f in statement.find_all(exp.Func)}
    refused = sorted(called & _SERVER_FUNCTIONS)
    if refused:
        raise InvalidInput("dataset.query", f"may not call {', '.join(refused)}: it reaches past the query's tables")
