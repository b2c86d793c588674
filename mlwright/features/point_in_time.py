"""Point-in-time joins: a training row sees only feature values observed at or before its label time.

A plain join on entity id would hand a label from January the features computed in March, so
the model trains on the future (a leak the offline metrics reward and production never repeats).
"""

from __future__ import annotations

import pandas as pd


def as_of_join(labels: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """For each label row, the latest feature row of its entity with ``event_time <= label_time``.

    Labels with no earlier feature row keep null features (never a later row). Output keeps the
    labels' order and adds ``feature_event_time`` (the observation time of the values used).
    """
    for frame, cols in ((labels, ("entity_id", "label_time")), (features, ("entity_id", "event_time"))):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"point-in-time join: columns {missing} missing")
    left = labels.assign(_order=range(len(labels)), label_time=pd.to_datetime(labels["label_time"], utc=True))
    right = features.assign(event_time=pd.to_datetime(features["event_time"], utc=True)).rename(
        columns={"event_time": "feature_event_time"})
    right["entity_id"] = right["entity_id"].astype(left["entity_id"].dtype)
    joined = pd.merge_asof(left.sort_values("label_time"), right.sort_values("feature_event_time"),
                           left_on="label_time", right_on="feature_event_time", by="entity_id",
                           direction="backward", allow_exact_matches=True)
    return joined.sort_values("_order").drop(columns=["_order"]).reset_index(drop=True)
