"""Per-source watermarks: a run reads only rows newer than what the last successful run consumed.

The watermark advances only when a run has finished (its last step), and only forward, so a
failed run is re-read in full by the next one and a late backfill cannot move it back.
"""

from __future__ import annotations

import pandas as pd
from sqlmodel import Session, select

from mlwright.store.tables import SourceWatermark, SourceWindow, utcnow


def current(session: Session, feature_set: str, source: str) -> pd.Timestamp | None:
    row = session.exec(select(SourceWatermark).where(
        SourceWatermark.feature_set == feature_set, SourceWatermark.source == source)).first()
    return pd.Timestamp(row.watermark) if row else None


def newer_than(frame: pd.DataFrame, column: str, mark: pd.Timestamp | None) -> pd.DataFrame:
    if mark is None or frame.empty:
        return frame
    stamps = pd.to_datetime(frame[column], utc=True)
    return frame[stamps > (mark if mark.tzinfo else mark.tz_localize("UTC"))]


def high_water(frame: pd.DataFrame, column: str) -> pd.Timestamp | None:
    if frame.empty:
        return None
    return pd.to_datetime(frame[column], utc=True).max()


def advance(session: Session, feature_set: str, source: str, mark: pd.Timestamp | None, run_key: str) -> bool:
    """Move the watermark forward to ``mark``; False (and no change) if it is not newer."""
    if mark is None:
        return False
    mark = mark if mark.tzinfo else mark.tz_localize("UTC")
    row = session.exec(select(SourceWatermark).where(
        SourceWatermark.feature_set == feature_set, SourceWatermark.source == source)).first()
    if row is None:
        session.add(SourceWatermark(feature_set=feature_set, source=source, watermark=mark.isoformat(),
                                    run_key=run_key))
        return True
    if mark <= pd.Timestamp(row.watermark):
        return False
    row.watermark, row.run_key, row.updated_at = mark.isoformat(), run_key, utcnow()
    session.add(row)
    return True


def window(session: Session, feature_set: str, source: str) -> SourceWindow | None:
    return session.exec(select(SourceWindow).where(
        SourceWindow.feature_set == feature_set, SourceWindow.source == source)).first()


def commit(session: Session, *, feature_set: str, source: str, mark: pd.Timestamp | None, run_date: str,
           table: dict, run_key: str) -> bool:
    """Advance the watermark and, with it, the snapshot it belongs to; nothing when not newer.

    Both rows change in the caller's transaction, so a crash never leaves a watermark pointing past
    the table that holds its rows."""
    if not advance(session, feature_set, source, mark, run_key):
        return False
    row = window(session, feature_set, source) or SourceWindow(feature_set=feature_set, source=source,
                                                                   run_date=run_date, watermark="", run_key=run_key)
    row.run_date, row.watermark, row.table, row.run_key, row.updated_at = (
        run_date, mark.isoformat() if mark.tzinfo else mark.tz_localize("UTC").isoformat(), table, run_key, utcnow())
    session.add(row)
    return True
