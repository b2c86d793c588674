"""The four source systems on disk: EHR in SQL, labs as daily Parquet, claims as monthly CSV, and
the pharmacy store behind its HTTP API. ``seed`` writes them; ``read_*`` extract a run's window."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy

from mlwright.errors import DatasetNotFound, InvalidInput
from mlwright.patient_risk.synthetic import Population
from mlwright.store.db import make_engine

EHR_TABLES = ("patients", "encounters", "diagnoses", "outcomes")
LAB_WINDOW_DAYS = 30
CLAIM_WINDOW_DAYS = 365
FILL_WINDOW_DAYS = 180


@dataclass(frozen=True)
class SourceLocations:
    ehr_url: str
    labs_dir: Path
    claims_dir: Path
    pharmacy_file: Path

    @classmethod
    def under(cls, root: Path, ehr_url: str | None = None) -> SourceLocations:
        root = root.resolve()
        return cls(ehr_url or f"sqlite:///{root / 'ehr.db'}", root / "labs", root / "claims",
                   root / "pharmacy" / "fills.parquet")


def seed(population: Population, where: SourceLocations) -> dict[str, int]:
    """Write every source (replacing what was there); returns rows written per table."""
    engine = make_engine(where.ehr_url)
    try:
        with engine.begin() as conn:
            for table in EHR_TABLES:
                getattr(population, table).to_sql(table, conn, if_exists="replace", index=False, chunksize=50_000)
    finally:
        engine.dispose()
    for directory in (where.labs_dir, where.claims_dir, where.pharmacy_file.parent):
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("*.*"):
            old.unlink()
    for day, rows in population.labs.groupby("file_date"):
        rows.drop(columns="file_date").to_parquet(where.labs_dir / f"{pd.Timestamp(day):%Y-%m-%d}.parquet", index=False)
    claims = population.claims.assign(month=population.claims["service_date"].astype("datetime64[ns]").dt.strftime("%Y-%m"))
    for month, rows in claims.groupby("month"):
        rows.drop(columns="month").to_csv(where.claims_dir / f"{month}.csv", index=False)
    population.fills.to_parquet(where.pharmacy_file, index=False)
    return {name: len(getattr(population, name)) for name in
            ("patients", "encounters", "diagnoses", "outcomes", "labs", "claims", "fills")}


def read_ehr(url: str, run_date: date) -> dict[str, pd.DataFrame]:
    with ehr_connection(url) as conn:
        missing = [t for t in EHR_TABLES[:3] if not has_table(conn, t)]
        if missing:
            raise DatasetNotFound(f"sources.ehr: tables {missing} missing in {shown(url)}; run `mlwright sources seed`")
        first, after_last = encounter_days(run_date)
        return {
            "patients": read_sql(conn, "select * from patients"),
            "encounters": read_sql(conn, "select * from encounters where admit_date >= :first and admit_date < :after_last",
                                   {"first": first, "after_last": after_last}),
            "diagnoses": read_sql(conn, "select * from diagnoses"),
        }


@contextmanager
def ehr_connection(url: str) -> Iterator[sqlite3.Connection | sqlalchemy.Connection]:
    """A connection that can only read the EHR. A SQLite file is opened read-only through sqlite3
    itself: pandas builds its frames ~2x faster from it than through SQLAlchemy's rows (a million
    patients' encounters: 5.1 s against 3.0 s), and an extract can neither write nor create the
    file. Any other database goes through SQLAlchemy, as a URL with a read-only account; on
    PostgreSQL the transaction is also read-only, so a URL with a writing account still cannot
    change the EHR."""
    parsed = sqlalchemy.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database).resolve()
        if not path.is_file():
            raise DatasetNotFound(f"sources.ehr: no database at {path}; run `mlwright sources seed`")
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            yield conn
        finally:
            conn.close()
        return
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            yield conn.execution_options(postgresql_readonly=True) if engine.dialect.name == "postgresql" else conn
    finally:
        engine.dispose()


def has_table(conn: sqlite3.Connection | sqlalchemy.Connection, table: str) -> bool:
    if isinstance(conn, sqlite3.Connection):
        return conn.execute("select 1 from sqlite_master where type = 'table' and name = ?", (table,)).fetchone() is not None
    return sqlalchemy.inspect(conn).has_table(table)


def read_sql(conn: sqlite3.Connection | sqlalchemy.Connection, sql: str, params: dict | None = None) -> pd.DataFrame:
    return pd.read_sql_query(sql if isinstance(conn, sqlite3.Connection) else sqlalchemy.text(sql), conn,
                             params=params)


def shown(url: str) -> str:
    return repr(sqlalchemy.engine.make_url(url))  # the URL with any password masked


def encounter_days(run_date: date) -> tuple[str, str]:
    """The encounter window's first day and the day after its last, as a half-open text range.

    The window is the CLAIM_WINDOW_DAYS calendar days up to and including the run date, as for
    claims. Bounds are whole days so that one comparison suits every way an EHR stores the date:
    'YYYY-MM-DD' text, 'YYYY-MM-DD HH:MM:SS' text (what pandas writes to SQLite) and a PostgreSQL
    date or timestamp. ``admit_date <= run_date`` would drop the run date's own encounters from
    text that carries a time ('2026-03-10 08:00' sorts after '2026-03-10').
    """
    return str(run_date - timedelta(days=CLAIM_WINDOW_DAYS - 1)), str(run_date + timedelta(days=1))


def read_labs(labs_dir: Path, run_date: date) -> pd.DataFrame:
    days = [run_date - timedelta(days=d) for d in range(LAB_WINDOW_DAYS)]
    files = [labs_dir / f"{d:%Y-%m-%d}.parquet" for d in days]
    present = [f for f in files if f.exists()]
    if not present:
        raise DatasetNotFound(f"sources.labs: no daily files in {labs_dir} for the {LAB_WINDOW_DAYS} days to {run_date}")
    return pd.concat([pd.read_parquet(f).assign(file_date=f.stem) for f in present], ignore_index=True)


def read_claims(claims_dir: Path, run_date: date) -> pd.DataFrame:
    since = run_date - timedelta(days=CLAIM_WINDOW_DAYS)
    months = sorted({f"{since + timedelta(days=d):%Y-%m}" for d in range(CLAIM_WINDOW_DAYS + 1)})
    present = [claims_dir / f"{m}.csv" for m in months if (claims_dir / f"{m}.csv").exists()]
    if not present:
        raise DatasetNotFound(f"sources.claims: no monthly CSV in {claims_dir} for the year to {run_date}")
    claims = pd.concat([pd.read_csv(f) for f in present], ignore_index=True)
    if "service_date" not in claims.columns:
        raise InvalidInput("sources.claims", f"column 'service_date' missing; columns are {list(claims.columns)}")
    dates = pd.to_datetime(claims["service_date"], errors="coerce")
    return claims[(dates > pd.Timestamp(since)) & (dates <= pd.Timestamp(run_date))].reset_index(drop=True)
