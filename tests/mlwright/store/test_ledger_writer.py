"""The ledger's raw SQLite writer stores exactly what the engine would, once per key, and recovers."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from mlwright.store import ledger
from mlwright.store.db import open_store
from mlwright.store.ledger_writer import SqliteLedgerWriter


def _row(**over) -> dict:
    t0 = datetime(2026, 12, 4, 17, 30, 1, 123456, tzinfo=UTC)
    return {"pipeline": "P", "workflow_id": "w", "run_id": "r", "step": "s", "activity_id": "1", "attempt": 1,
            "queue": "q-cpu", "resource": "cpu", "started_at": t0, "ended_at": t0 + timedelta(seconds=2.5),
            "wall_s": 2.5, "cpu_s": 0.25, "peak_rss_delta_mb": 1.5, "rows_in": 10, "rows_out": None,
            "outcome": "failed", "error_type": "InjectedFault", "cost": 0.001, "team": "care-ml",
            "project": None, **over}


def _stored(engine, workflow_id: str) -> list[dict]:
    return [r.model_dump(exclude={"id"}) for r in ledger.rows_for(engine, workflow_id)]


def test_a_row_reads_back_exactly_as_one_the_engine_wrote(tmp_path):
    by_engine, by_writer = (open_store(f"sqlite:///{tmp_path / n}.db", sync_each_commit=False) for n in "ab")
    ledger.record(by_engine, [_row()])
    SqliteLedgerWriter(by_writer).record([_row()])
    assert _stored(by_writer, "w") == _stored(by_engine, "w") != []


def test_a_repeated_write_adds_no_row_and_keeps_the_first(tmp_path):
    engine = open_store(f"sqlite:///{tmp_path / 'l.db'}", sync_each_commit=False)
    writer = SqliteLedgerWriter(engine)
    writer.record([_row()])
    writer.record([_row(wall_s=9.0)])
    writer.record([_row(wall_s=9.0), _row(attempt=2, outcome="completed")])
    assert [(r.attempt, r.wall_s) for r in ledger.rows_for(engine, "w")] == [(1, 2.5), (2, 2.5)]


def test_a_failed_batch_leaves_nothing_half_written_and_the_next_write_lands(tmp_path):
    engine = open_store(f"sqlite:///{tmp_path / 'l.db'}", sync_each_commit=False)
    writer = SqliteLedgerWriter(engine)
    with pytest.raises(sqlite3.IntegrityError):
        writer.record([_row(activity_id="1"), _row(activity_id="2", pipeline=None)])  # NOT NULL column
    with pytest.raises(sqlite3.IntegrityError):
        writer.record([_row(activity_id="3", outcome=None)])
    writer.record([_row(activity_id="4")])
    assert [r.activity_id for r in ledger.rows_for(engine, "w")] == ["4"]


def test_only_a_sqlite_file_is_accepted():
    from mlwright.store.db import make_engine

    with pytest.raises(ValueError, match="SQLite file"):
        SqliteLedgerWriter(make_engine("sqlite://"))
