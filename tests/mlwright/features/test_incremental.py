"""Incremental extraction's pieces: windows as the full reads select them, merge, and the commit of a mark."""

import sqlite3
from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from mlwright.errors import DatasetNotFound
from mlwright.features import incremental, watermark
from mlwright.patient_risk import sources
from mlwright.store.db import open_store, session_scope

DAY = date(2026, 3, 10)


def test_a_window_table_serves_later_dates_only():
    mark, consumed_for = pd.Timestamp("2026-03-09", tz="UTC"), date(2026, 3, 9)
    assert incremental.usable(mark, consumed_for, DAY)
    assert not incremental.usable(mark, consumed_for, date(2026, 3, 9))  # the same date: read whole
    assert not incremental.usable(mark, consumed_for, date(2026, 3, 8))  # an earlier date's window starts earlier


def test_merge_puts_new_rows_first_and_trims_to_the_run_window():
    previous = pd.DataFrame({"patient_id": ["a", "b"], "file_date": ["2026-02-08", "2026-03-08"]})
    new = pd.DataFrame({"patient_id": ["c"], "file_date": ["2026-03-10"]})
    merged = incremental.merge("labs", previous, new, DAY)
    assert merged["patient_id"].tolist() == ["c", "b"]  # 2026-02-08 is outside the 30 days to 2026-03-10
    assert incremental.merge("labs", previous, pd.DataFrame(), DAY)["patient_id"].tolist() == ["b"]


def test_encounter_window_is_the_365_days_to_the_run_date_whatever_the_text_format():
    frame = pd.DataFrame({"admit_date": ["2025-03-10 00:00:00.000000", "2026-03-10 08:30:00", "2026-03-09",
                                         "2025-03-11 00:00:00.000000", "2026-03-11 00:00:00"]})
    # The run date's encounters count even when the EHR's text carries a time; 365 days back does not.
    assert incremental.window("encounters", frame, DAY).index.tolist() == [1, 2, 3]


def test_read_ehr_keeps_the_run_dates_encounters_and_drops_the_day_before_the_window(tmp_path):
    url = f"sqlite:///{tmp_path / 'ehr.db'}"
    engine = open_store(url)
    days = pd.to_datetime(["2025-03-10", "2025-03-11", "2026-03-10", "2026-03-11"])
    with engine.begin() as conn:  # pandas writes datetimes to SQLite as 'YYYY-MM-DD HH:MM:SS' text
        pd.DataFrame({"patient_id": ["p"]}).to_sql("patients", conn, index=False)
        pd.DataFrame({"encounter_id": ["e0", "e1", "e2", "e3"], "patient_id": "p", "admit_date": days}).to_sql(
            "encounters", conn, index=False)
        pd.DataFrame({"patient_id": ["p"], "icd10": ["I10"]}).to_sql("diagnoses", conn, index=False)
    engine.dispose()
    read = sources.read_ehr(url, DAY)["encounters"]
    assert read["encounter_id"].tolist() == ["e1", "e2"]
    assert incremental.window("encounters", read, DAY)["encounter_id"].tolist() == ["e1", "e2"]


def test_commit_moves_mark_and_window_together_and_only_forward(tmp_path):
    engine = open_store(f"sqlite:///{tmp_path / 's.db'}")
    table = {"artifact": {"uri": "file:///x", "sha256": "0" * 64, "size_bytes": 1}, "rows": 1, "columns": []}
    with session_scope(engine) as s:
        assert watermark.commit(s, feature_set="fs", source="labs", mark=pd.Timestamp("2026-03-09"),
                                run_date="2026-03-09", table=table, run_key="fs/2026-03-09")
    with session_scope(engine) as s:
        older = {**table, "rows": 2}
        assert not watermark.commit(s, feature_set="fs", source="labs", mark=pd.Timestamp("2026-03-01", tz="UTC"),
                                    run_date="2026-03-01", table=older, run_key="fs/2026-03-01")
        assert not watermark.commit(s, feature_set="fs", source="labs", mark=None, run_date="2026-03-11",
                                    table=older, run_key="fs/2026-03-11")
    with session_scope(engine) as s:
        row = watermark.window(s, "fs", "labs")
        assert (row.run_date, row.table["rows"]) == ("2026-03-09", 1)
        assert watermark.current(s, "fs", "labs") == pd.Timestamp("2026-03-09", tz="UTC")


def test_the_ehr_is_opened_read_only_and_a_missing_file_is_not_created(tmp_path):
    missing = tmp_path / "none.db"
    with pytest.raises(DatasetNotFound, match="sources.ehr: no database at"):
        sources.read_ehr(f"sqlite:///{missing}", DAY)
    assert not missing.exists()
    present = tmp_path / "ehr.db"
    sqlite3.connect(present).execute("create table patients (patient_id text)").connection.commit()
    with sources.ehr_connection(f"sqlite:///{present}") as conn, pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("insert into patients values ('p')")


@pytest.mark.postgres
def test_a_postgresql_ehr_is_read_in_a_read_only_transaction():
    from tests.mlwright.store.conftest import POSTGRES_URL, postgres_schema

    with postgres_schema("ehr", "CREATE TABLE {schema}.patients (patient_id text)") as (_, schema):
        url = sa.engine.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        with sources.ehr_connection(url.render_as_string(hide_password=False)) as conn:
            assert sources.has_table(conn, "patients")
            assert sources.read_sql(conn, "select * from patients").empty
            with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
                conn.execute(sa.text("insert into patients values ('p')"))
