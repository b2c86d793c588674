"""Store fixtures: a fresh in-memory SQLite per test, and a private schema on PostgreSQL when reachable."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy
from sqlalchemy import Engine

from mlwright.store.db import init_db, make_engine

POSTGRES_URL = os.environ.get("MLWRIGHT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_reachable() -> str | None:
    try:
        engine = sqlalchemy.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as e:  # any failure to connect means: skip, and say why
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {type(e).__name__}"


@contextlib.contextmanager
def postgres_schema(prefix: str, *statements: str) -> Iterator[tuple[Engine, str]]:
    """A fresh schema (``statements`` run in it, ``{schema}`` filled in), dropped afterwards; the
    test is skipped, saying why, when PostgreSQL is not reachable."""
    reason = _postgres_reachable()
    if reason:
        pytest.skip(reason)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        for statement in statements:
            conn.exec_driver_sql(statement.format(schema=f'"{schema}"'))
    try:
        yield admin, schema
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine("sqlite://")
        init_db(engine)
        yield engine
        engine.dispose()
        return
    reason = _postgres_reachable()
    if reason:
        pytest.skip(reason)
    # A schema per test: tests never share rows and never clean up by deleting them.
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = sqlalchemy.create_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    init_db(engine)
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()
