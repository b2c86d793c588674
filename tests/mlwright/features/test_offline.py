"""Offline store: partitioned Parquet, idempotent writes, and point-in-time correct training reads."""

from datetime import date

import pandas as pd
import pytest

from mlwright.features import offline


def _features(day: str, values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"entity_id": list(values), "event_time": pd.Timestamp(day, tz="UTC"),
                         "age": list(values.values())})


def test_partitioned_by_feature_set_and_date_and_rewrite_is_idempotent(tmp_path):
    offline.write(tmp_path, "risk", date(2026, 1, 1), _features("2026-01-01", {"P1": 1.0, "P2": 2.0}))
    offline.write(tmp_path, "risk", date(2026, 1, 1), _features("2026-01-01", {"P1": 1.0, "P2": 2.0}))
    offline.write(tmp_path, "other", date(2026, 1, 1), _features("2026-01-01", {"P9": 9.0}))
    assert (tmp_path / "feature_set=risk" / "date=2026-01-01" / "part-0.parquet").exists()
    rows = offline.read(tmp_path, "risk")
    assert sorted(rows["entity_id"]) == ["P1", "P2"]  # retried write added nothing; other set not read
    assert offline.read(tmp_path, "risk", start=date(2026, 1, 2)).empty


def test_point_in_time_read_excludes_values_observed_after_the_label(tmp_path):
    offline.write(tmp_path, "risk", date(2026, 1, 1), _features("2026-01-01", {"P1": 10.0, "P2": 20.0}))
    # The leak case: P1's March value (observed after P1's February label) must not reach that row.
    offline.write(tmp_path, "risk", date(2026, 3, 1), _features("2026-03-01", {"P1": 99.0, "P3": 30.0}))
    labels = pd.DataFrame({"entity_id": ["P1", "P1", "P2", "P3"],
                           "label_time": pd.to_datetime(["2026-02-01", "2026-03-01", "2026-02-01", "2026-02-01"],
                                                        utc=True),
                           "y": [0, 1, 0, 1]})
    rows = offline.training_frame(tmp_path, "risk", labels)
    assert rows["y"].tolist() == [0, 1, 0, 1]  # label order kept
    assert rows["age"].tolist()[:3] == [10.0, 99.0, 20.0]  # exact-time observation is allowed
    assert pd.isna(rows["age"].iloc[3])  # P3's only row is from after its label: null, not the future
    # And the naive join would have leaked: prove the fixture really contains the future value.
    naive = labels.merge(offline.read(tmp_path, "risk"), on="entity_id")
    assert 99.0 in naive[naive["label_time"] < pd.Timestamp("2026-03-01", tz="UTC")]["age"].tolist()


def test_missing_columns_are_named(tmp_path):
    with pytest.raises(ValueError, match="event_time"):
        offline.write(tmp_path, "risk", date(2026, 1, 1), pd.DataFrame({"entity_id": ["P1"]}))
