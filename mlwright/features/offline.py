"""Offline feature store: Parquet partitioned by feature set and date (hive layout, pyarrow dataset).

Each (feature set, date) partition is one file written under a temporary name and renamed into
place, so a retried write replaces the partition instead of adding rows twice. Every row carries
``entity_id`` and ``event_time`` (when its values were observed), which point-in-time reads need.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from mlwright.features.point_in_time import as_of_join

_PARTITIONING = ds.partitioning(pa.schema([("feature_set", pa.string()), ("date", pa.string())]), flavor="hive")


def partition_path(root: Path, feature_set: str, run_date: date) -> Path:
    return Path(root) / f"feature_set={feature_set}" / f"date={run_date.isoformat()}"


def write(root: Path, feature_set: str, run_date: date, frame: pd.DataFrame) -> Path:
    """Write one run's features (columns ``entity_id``, ``event_time``, features); idempotent."""
    missing = {"entity_id", "event_time"} - set(frame.columns)
    if missing:
        raise ValueError(f"offline write: columns {sorted(missing)} missing")
    where = partition_path(root, feature_set, run_date)
    where.mkdir(parents=True, exist_ok=True)
    target = where / "part-0.parquet"
    tmp = where / f".part-0.parquet.{os.getpid()}.tmp"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    os.replace(tmp, target)
    return target


def read(root: Path, feature_set: str, start: date | None = None, end: date | None = None) -> pd.DataFrame:
    """All rows of a feature set, optionally for partitions with start <= date <= end."""
    if not (Path(root) / f"feature_set={feature_set}").exists():
        return pd.DataFrame(columns=["entity_id", "event_time"])
    dataset = ds.dataset(str(root), format="parquet", partitioning=_PARTITIONING,
                         exclude_invalid_files=True, ignore_prefixes=[".", "_"])
    flt = ds.field("feature_set") == feature_set
    if start is not None:
        flt &= ds.field("date") >= start.isoformat()
    if end is not None:
        flt &= ds.field("date") <= end.isoformat()
    return dataset.to_table(filter=flt).to_pandas().drop(columns=["feature_set"])


def training_frame(root: Path, feature_set: str, labels: pd.DataFrame) -> pd.DataFrame:
    """Point-in-time correct training rows: each label gets the features as they were at its time.

    ``labels`` has ``entity_id`` and ``label_time``; see ``point_in_time.as_of_join``.
    """
    features = read(root, feature_set).drop(columns=["date"], errors="ignore")
    return as_of_join(labels, features)
