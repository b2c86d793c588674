"""Where a run's training data comes from: a named source from settings, or (when allowed) a path.

Whoever may start a run must not gain the worker's file-system and database rights, so a run names
a data source the operator configured (``source``) and a file or query under it. What a source may
reach is decided by settings (``mlwright.ml.data_access``), not here: this contract only refuses
shapes no setting could make safe, at start, naming the field.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from pydantic import Field, field_validator, model_validator

from mlwright.contracts.common import Contract


def is_database_url(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


class DatasetSpec(Contract):
    source: str | None = Field(
        None, pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$",
        description="A data source named in settings: a data root (then `path`) or a database "
        "connection (then `query`).",
    )
    path: str | None = Field(
        None, min_length=1,
        description="File under the data root `source`, relative to it: CSV, Parquet, or a SQLite "
        "database (.db/.sqlite, then `query`).",
    )
    uri: str | None = Field(
        None, min_length=1,
        description="A file path, file:// URI or sqlite:/// URL, accepted only when settings allow "
        "direct URIs (the development default) and confined to the data roots.",
    )
    target: str = Field(min_length=1, description="Column to predict.")
    query: str | None = Field(
        None, min_length=1,
        description="One SELECT statement, run on a read-only connection; with a connection source, a "
        "SQLite file, or a sqlite:/// uri.",
    )

    @field_validator("source", "path", "uri", "target", "query")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # A NUL byte makes every file API raise ValueError deep in the worker: refuse it at start.
        if value is not None and "\x00" in value:
            raise ValueError("must not contain a NUL (\\x00) character")
        return value

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is not None:
            parts = PurePosixPath(value.replace("\\", "/"))
            if parts.is_absolute() or ".." in parts.parts:
                raise ValueError("must be relative to the data root, without '..'")
        return value

    @model_validator(mode="after")
    def _one_way_to_the_data(self) -> DatasetSpec:
        if (self.source is None) == (self.uri is None):
            raise ValueError("dataset: give either `source` (a data source named in settings, with `path` "
                             "or `query`) or `uri`, not both")
        if self.path is not None and self.source is None:
            raise ValueError("dataset.path only applies with dataset.source")
        if self.source is not None and self.path is None and self.query is None:
            raise ValueError("dataset.source needs dataset.path (a file under a data root) or dataset.query "
                             "(on a database connection)")
        if self.uri is not None:
            is_sql = is_database_url(self.uri)
            if is_sql and not self.query:
                raise ValueError("dataset.query is required when dataset.uri is a database URL")
            if not is_sql and self.query:
                raise ValueError("dataset.query only applies when dataset.uri is a database URL")
            if is_sql and not self.uri.startswith("sqlite:"):
                raise ValueError("dataset.uri: server database URLs are not accepted; use dataset.source "
                                 "with a connection named in settings (MLWRIGHT_DATA_CONNECTIONS)")
        return self
