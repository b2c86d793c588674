"""Incremental extraction for FeaturePipeline: read only source rows newer than each source's
watermark, and add them to the windows the last successful run consumed.

Features are windowed (30 days of labs, a year of encounters and claims, 180 days of fills), so
"only the new rows" cannot mean "features of the new rows": a run adds the new rows to the
previous run's window tables (kept by reference beside the watermark, table ``source_window``) and trims
the result to its own window. The tables are then the ones a full read would give, and so are
the features (tested). Each watermarked source is ordered by one column:

    ehr       encounters.admit_date      (patients and diagnoses have no time: read whole)
    labs      the daily file's date
    claims    claims.service_date
    pharmacy  fills.recorded_date        (when the pharmacy recorded the fill, not when it was filled)

A row that lands later with a time at or before its source's watermark is not read by the
incremental path; a full read (a backfill, or any run whose date is not after the snapshot's)
sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from mlwright.errors import DatasetNotFound
from mlwright.patient_risk import sources
from mlwright.patient_risk.sources import SourceLocations


@dataclass(frozen=True)
class Watermarked:
    source: str
    table: str
    column: str


WATERMARKED = (Watermarked("ehr", "encounters", "admit_date"), Watermarked("labs", "labs", "file_date"),
               Watermarked("claims", "claims", "service_date"), Watermarked("pharmacy", "fills", "recorded_date"))
BY_SOURCE = {w.source: w for w in WATERMARKED}


@dataclass(frozen=True)
class Previous:
    """What the last successful run consumed from one source."""

    watermark: pd.Timestamp
    run_date: date
    table: pd.DataFrame


def _day(stamp: pd.Timestamp) -> date:
    return stamp.tz_convert("UTC").date() if stamp.tzinfo else stamp.date()


def usable(watermark: pd.Timestamp, consumed_for: date, run_date: date) -> bool:
    """A window table serves only later dates: it is trimmed to the windows of the run that consumed it."""
    return consumed_for < run_date and _day(watermark) <= run_date


def window(table: str, frame: pd.DataFrame, run_date: date) -> pd.DataFrame:
    """The rows of ``table`` a run for ``run_date`` uses, as the full reads in ``sources`` select them."""
    if frame.empty:
        return frame
    if table == "labs":
        # File dates and fill dates are YYYY-MM-DD text (the file names, the export's strftime): compared as
        # text, which orders them as dates, without parsing every row of the window again.
        start = str(run_date - timedelta(days=sources.LAB_WINDOW_DAYS))
        text = frame["file_date"].astype(str)
        return frame[(text > start) & (text <= str(run_date))]
    if table == "fills":
        since = str(run_date - timedelta(days=sources.FILL_WINDOW_DAYS))
        return frame[(frame["recorded_date"] <= str(run_date)) & (frame["fill_date"] > since)]
    if table == "encounters":
        # As read_ehr's SQL compares them: as text between whole days, whatever format the EHR uses.
        text, (first, after_last) = frame["admit_date"].astype(str), sources.encounter_days(run_date)
        return frame[(text >= first) & (text < after_last)]
    end = pd.Timestamp(run_date)
    stamp = pd.to_datetime(frame["service_date"], errors="coerce")  # as read_claims parses them
    return frame[(stamp > end - pd.Timedelta(days=sources.CLAIM_WINDOW_DAYS)) & (stamp <= end)]


def high_water(source: str, frame: pd.DataFrame) -> pd.Timestamp | None:
    spec = BY_SOURCE[source]
    if frame.empty:
        return None
    return pd.Timestamp(pd.to_datetime(frame[spec.column]).max(), tz="UTC")


def read_full(source: str, where: SourceLocations, run_date: date) -> dict[str, pd.DataFrame]:
    """The source's whole window for the run date (what every run read before watermarks)."""
    if source == "ehr":
        return dict(sources.read_ehr(where.ehr_url, run_date))
    if source == "labs":
        return {"labs": sources.read_labs(where.labs_dir, run_date)}
    if source == "claims":
        return {"claims": sources.read_claims(where.claims_dir, run_date)}
    return {"fills": window("fills", _fills(where), run_date)}


def read_newer(source: str, where: SourceLocations, run_date: date, mark: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Only the rows of ``source`` after ``mark`` up to the run date (plus EHR's untimed tables)."""
    after = _day(mark)
    if source == "ehr":
        return _ehr_newer(where.ehr_url, mark, run_date)
    if source == "labs":
        days = [after + timedelta(days=d) for d in range(1, (run_date - after).days + 1)]
        files = [f for f in (where.labs_dir / f"{d:%Y-%m-%d}.parquet" for d in days) if f.exists()]
        frames = [pd.read_parquet(f).assign(file_date=f.stem) for f in reversed(files)]
        return {"labs": pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()}
    if source == "claims":
        months = sorted({f"{after + timedelta(days=d):%Y-%m}" for d in range((run_date - after).days + 1)})
        files = [f for f in (where.claims_dir / f"{m}.csv" for m in months) if f.exists()]
        if not files:
            return {"claims": pd.DataFrame()}
        claims = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
        stamp = pd.to_datetime(claims["service_date"], errors="coerce")
        return {"claims": claims[(stamp > pd.Timestamp(after)) & (stamp <= pd.Timestamp(run_date))]}
    raw = pd.read_parquet(where.pharmacy_file)
    recorded = pd.to_datetime(raw["recorded_date"])
    # Cut first, then format only the new rows' dates: formatting the whole export is most of its cost.
    return {"fills": _as_text(raw[(recorded > pd.Timestamp(after)) & (recorded <= pd.Timestamp(run_date))])}


def merge(table: str, previous: pd.DataFrame, new: pd.DataFrame, run_date: date) -> pd.DataFrame:
    """Newest rows first, as the full reads return them, trimmed to the run's window."""
    both = pd.concat([new, previous], ignore_index=True) if not new.empty else previous
    return window(table, both, run_date).reset_index(drop=True)


def _fills(where: SourceLocations) -> pd.DataFrame:
    # The batch export the pharmacy API serves from; a bulk read here, where the API pages.
    return _as_text(pd.read_parquet(where.pharmacy_file))


def _as_text(fills: pd.DataFrame) -> pd.DataFrame:
    fills = fills.copy()
    for column in ("fill_date", "recorded_date"):
        fills[column] = pd.to_datetime(fills[column]).dt.strftime("%Y-%m-%d")
    return fills


def _after(frame: pd.DataFrame, column: str, mark: pd.Timestamp) -> pd.DataFrame:
    return frame[pd.to_datetime(frame[column], utc=True) > mark].reset_index(drop=True)


def _ehr_newer(url: str, mark: pd.Timestamp, run_date: date) -> dict[str, pd.DataFrame]:
    after = _day(mark)
    with sources.ehr_connection(url) as conn:
        if not sources.has_table(conn, "encounters"):
            raise DatasetNotFound(f"sources.ehr: table encounters missing in {sources.shown(url)}")
        return {
            "patients": sources.read_sql(conn, "select * from patients"),
            # The day's text bound is a superset (stored dates may carry a time); the mark cuts exactly.
            "encounters": _after(sources.read_sql(
                conn, "select * from encounters where admit_date >= :after and admit_date < :after_last",
                {"after": str(after), "after_last": sources.encounter_days(run_date)[1]}), "admit_date", mark),
            "diagnoses": sources.read_sql(conn, "select * from diagnoses"),
        }
