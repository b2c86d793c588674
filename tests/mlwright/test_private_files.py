"""What mlwright writes is owner-only: 0600 files, 0700 directories (issue 6, item 8).

The tests run under umask 0022 (a fixture sets it), so a mode that comes out private is mlwright's doing.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy

from mlwright.private import private_dir
from mlwright.sample_data import write_sample
from mlwright.store.artifacts import ArtifactStore
from mlwright.store.db import make_engine


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_store_database_and_its_wal_are_owner_only(tmp_path):
    db = tmp_path / "state" / "sub" / "mlwright.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:  # a write in WAL mode creates -wal and -shm
        conn.exec_driver_sql("CREATE TABLE t (x int)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        created = sorted(p.name for p in db.parent.iterdir())
        modes = {p.name: mode(p) for p in db.parent.iterdir()}
    engine.dispose()
    assert created == ["mlwright.db", "mlwright.db-shm", "mlwright.db-wal"]
    assert set(modes.values()) == {0o600}, modes
    assert (mode(tmp_path / "state"), mode(db.parent)) == (0o700, 0o700)


def test_an_existing_world_readable_database_is_tightened(tmp_path):
    db = tmp_path / "care.db"
    db.touch(mode=0o644)
    make_engine(f"sqlite:///{db}").dispose()
    assert mode(db) == 0o600


def test_artifacts_are_owner_only(tmp_path):
    store = ArtifactStore(tmp_path / "home" / "artifacts")
    ref = store.put_bytes(b"model bytes", ".pkl")
    stored = Path(ref.uri.removeprefix("file://"))
    assert mode(stored) == 0o600
    for directory in (stored.parent, stored.parent.parent, tmp_path / "home" / "artifacts", tmp_path / "home"):
        assert mode(directory) == 0o700, directory


def test_sample_data_is_owner_only(tmp_path):
    path = write_sample("wine", tmp_path / "data")
    assert (mode(path), mode(path.parent)) == (0o600, 0o700)


def test_existing_parent_directories_are_left_alone(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    private_dir(shared / "mine")
    assert (mode(shared), mode(shared / "mine")) == (0o755, 0o700)


def test_sqlalchemy_url_with_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    engine = make_engine("sqlite:///rel/x.db")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text("select 1"))
    engine.dispose()
    assert (mode(tmp_path / "rel" / "x.db"), mode(tmp_path / "rel")) == (0o600, 0o700)


def test_the_cli_makes_what_it_writes_owner_only(tmp_path):
    """`mlwright` sets a private umask first (as `python -m workers` and `python -m mlwright.services` do),
    so files it creates without naming a mode (seeded sources, logs, the pid file) stay owner-only."""
    home = tmp_path / "home"
    out = subprocess.run([sys.executable, "-m", "mlwright.cli", "sources", "seed", "--patients", "60",
                          "--run-date", "2026-11-27"], env={**os.environ, "MLWRIGHT_HOME": str(home)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    written = [p for p in home.rglob("*")]
    assert len([p for p in written if p.is_file()]) >= 4
    exposed = {str(p.relative_to(home)): oct(mode(p)) for p in written if mode(p) & 0o077}
    assert exposed == {}, f"readable by others: {exposed}"


def _count_in_fresh_process(db: Path) -> int:
    # Another process, as another worker would be: it opens, reads and closes, and if it believes
    # it is the last connection, SQLite checkpoints and removes the WAL.
    code = "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute('select count(*) from t').fetchone()[0]); c.close()"
    return int(subprocess.run([sys.executable, "-c", code, str(db)], check=True, capture_output=True,
                              text=True).stdout)


def test_a_second_engine_on_the_store_keeps_the_first_engines_locks(tmp_path):
    # The step ledger opens its own engine on the store's file beside the store's engine. Touching
    # the file then must not close a descriptor of it: that drops every POSIX lock the process holds,
    # another process then takes itself for the last reader and removes the WAL, and the first
    # engine's next commits vanish (this lost a registry write in the patient-risk demo).
    db = tmp_path / "mlwright.db"
    store = make_engine(f"sqlite:///{db}")
    with store.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x int)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    held = store.connect()  # the store's pooled connection stays open, as in a worker
    held.exec_driver_sql("SELECT count(*) FROM t").scalar()
    held.rollback()

    make_engine(f"sqlite:///{db}", sync_each_commit=False)
    assert _count_in_fresh_process(db) == 1

    held.exec_driver_sql("INSERT INTO t VALUES (2)")
    held.commit()
    held.close()
    assert _count_in_fresh_process(db) == 2
    store.dispose()
