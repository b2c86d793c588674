"""The input boundary (issue 6, item 5): each attack a run's `dataset` could carry, refused by name.

Whoever may start a run must not gain the worker's file-system and database rights: reads stay
inside the data roots, SQL is one SELECT on a read-only connection, mlwright's own state is never
data. Each test attacks for real (SQLite files, symlinks, hard links, PostgreSQL) and then checks
that nothing was read or changed.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy
from pydantic import ValidationError

from mlwright.contracts.common import describe_validation_error
from mlwright.contracts.dataset import DatasetSpec
from mlwright.errors import InvalidInput
from mlwright.ml import data
from mlwright.ml.data_access import DataAccess, SqlSource
from mlwright.settings import Settings
from mlwright.store.db import open_store
from tests.mlwright.store.conftest import POSTGRES_URL, postgres_schema

WRITES = {
    "drop": "DROP TABLE victim",
    "create": "CREATE TABLE planted (x int)",
    "two statements": "SELECT * FROM victim; DROP TABLE victim",
    "write in a CTE": "WITH gone AS (DELETE FROM victim RETURNING *) SELECT * FROM gone",
    "select into": "SELECT * INTO planted FROM victim",
    "insert": "INSERT INTO victim VALUES (2)",
    "pragma": "PRAGMA writable_schema = 1",
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(environment="test", home=tmp_path / "state")


@pytest.fixture
def root(settings: Settings) -> Path:
    root = settings.resolved_data_roots["local"]
    root.mkdir(parents=True)
    (root / "ok.csv").write_text("x,y\n1,2\n")
    with sqlite3.connect(root / "shop.db") as conn:
        conn.execute("CREATE TABLE victim (x int)")
        conn.execute("INSERT INTO victim VALUES (1)")
    return root


@pytest.fixture
def access(settings: Settings, root: Path) -> DataAccess:
    open_store(settings.resolved_database_url).dispose()  # the store database exists, as on a worker
    return DataAccess.from_settings(settings)


def load(access: DataAccess, **where) -> object:
    return data.load_table(DatasetSpec(target="x", **where), access)


def tables(db: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(db) as conn:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return [(n, conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names]


@pytest.mark.parametrize("query", WRITES.values(), ids=WRITES.keys())
@pytest.mark.parametrize("how", ["named source", "sqlite uri"])
def test_sql_that_writes_is_refused_and_changes_nothing(access, root, query, how):
    where = ({"source": "local", "path": "shop.db"} if how == "named source"
             else {"uri": f"sqlite:///{root / 'shop.db'}"})
    with pytest.raises(InvalidInput, match=r"^dataset\.query: must (be a (single )?SELECT|only read)"):
        load(access, query=query, **where)
    assert tables(root / "shop.db") == [("victim", 1)]


@pytest.mark.parametrize("query", ["SELECT pg_read_file('/etc/passwd')", "SELECT PG_CATALOG.PG_LS_DIR('/')",
                                   "SELECT load_extension('/tmp/evil')", "SELECT x FROM victim WHERE pg_sleep(60)"])
def test_functions_that_reach_past_the_tables_are_refused(access, query):
    with pytest.raises(InvalidInput, match="^dataset.query: may not call .*: it reaches past the query's tables"):
        load(access, source="local", path="shop.db", query=query)


def test_a_query_too_deep_to_parse_is_refused_not_retried(access):
    with pytest.raises(InvalidInput, match="^dataset.query: is nested too deeply to check"):
        load(access, source="local", path="shop.db", query="SELECT " + "(" * 5000 + "1" + ")" * 5000)


def test_a_read_still_works(access, root):
    assert load(access, source="local", path="shop.db", query="SELECT x FROM victim").x.tolist() == [1]
    assert load(access, source="local", path="ok.csv").y.tolist() == [2]
    # The query runs as written: no bind-parameter or placeholder rewriting of literals.
    literals = load(access, source="local", path="shop.db", query="SELECT 'a%b' AS x, ':y' AS y")
    assert literals.to_dict("records") == [{"x": "a%b", "y": ":y"}]


def test_sqlite_connection_is_read_only_even_if_a_write_got_past_the_parser(root):
    # Defence in depth: the connection itself refuses writes (mode=ro), whatever the statement.
    source = SqlSource(query="DROP TABLE victim", backend="sqlite", sqlite_file=root / "shop.db")
    with pytest.raises(InvalidInput, match="^dataset.query: attempt to write a readonly database"):
        data._read_sql(source)
    assert tables(root / "shop.db") == [("victim", 1)]


@pytest.mark.parametrize(
    ("where", "field", "problem"),
    [
        ({"uri": "../../etc/passwd"}, "dataset.uri", "is outside the data roots"),
        ({"uri": "/etc/passwd"}, "dataset.uri", "is outside the data roots"),
        ({"uri": "file:///etc/passwd"}, "dataset.uri", "is outside the data roots"),
        ({"uri": "file://otherhost/etc/passwd"}, "dataset.uri", "another host"),
        ({"uri": "sqlite://:bad:port/x", "query": "SELECT 1"}, "dataset.uri", "SQLAlchemy can parse"),
        ({"uri": "sqlite://", "query": "SELECT 1"}, "dataset.uri", "only sqlite:///<file> URLs"),
        ({"uri": "sqlite:////etc/passwd", "query": "SELECT 1"}, "dataset.uri", "is outside the data roots"),
        ({"source": "elsewhere", "path": "x.csv"}, "dataset.source", "unknown data source 'elsewhere'"),
        ({"source": "local", "query": "SELECT 1"}, "dataset.query", "is a data root"),
        ({"source": "local", "path": "ok.csv", "query": "SELECT 1"}, "dataset.query", "applies to a SQLite file"),
    ],
)
def test_paths_outside_the_data_roots_are_refused(access, where, field, problem):
    with pytest.raises(InvalidInput) as refused:
        load(access, **where)
    assert refused.value.message.startswith(f"{field}: ") and problem in refused.value.message


def test_the_store_database_and_state_dir_are_never_data(settings, access, root):
    store = Path(sqlalchemy.make_url(settings.resolved_database_url).database)
    assert store.is_file()
    for where in ({"uri": str(store)}, {"uri": store.as_uri()},
                  {"uri": settings.resolved_database_url, "query": "SELECT * FROM modelversion"},
                  {"uri": str(settings.resolved_artifact_root / "x.csv")}):
        with pytest.raises(InvalidInput, match="^dataset.uri: .* is outside the data roots"):
            load(access, **where)
    os.link(store, root / "store.db")  # a hard link inside the root is the same file
    with pytest.raises(InvalidInput, match="^dataset.path: 'store.db' is mlwright's own state"):
        load(access, source="local", path="store.db", query="SELECT * FROM modelversion")


def test_settings_refuse_sources_that_reach_the_state(tmp_path):
    home = tmp_path / "state"
    with pytest.raises(ValidationError, match="data root 'all' .* contains mlwright's own state"):
        Settings(home=home, data_roots={"all": tmp_path})
    with pytest.raises(ValidationError, match="data connection 'store' is mlwright's own store database"):
        Settings(home=home, data_connections={"store": f"sqlite:///{home / 'mlwright.db'}"})
    with pytest.raises(ValidationError, match="backend 'mysql' is not one of"):
        Settings(home=home, data_connections={"w": "mysql://db/x"})


def test_symlinks_cannot_lead_out_of_a_root(access, root, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("x\n42\n")
    (root / "link.csv").symlink_to(secret)
    (root / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    for path in ("link.csv", "dirlink/secret.csv"):
        with pytest.raises(InvalidInput, match=f"^dataset.path: '{path}' is outside the data roots"):
            load(access, source="local", path=path)
    (root / "inside.csv").symlink_to(root / "ok.csv")  # a link that stays inside is fine
    assert load(access, source="local", path="inside.csv").y.tolist() == [2]


def test_a_symlink_loop_or_a_directory_is_refused_not_retried(access, root):
    (root / "loop.csv").symlink_to(root / "loop.csv")
    with pytest.raises(InvalidInput, match="^dataset.path: 'loop.csv' cannot be resolved"):
        load(access, source="local", path="loop.csv")
    (root / "dir.csv").mkdir()
    with pytest.raises(InvalidInput, match="^dataset.path: 'dir.csv' is not a regular file"):
        load(access, source="local", path="dir.csv")


def test_a_sqlite_connection_named_in_settings_reads_read_only(tmp_path, root):
    access = DataAccess.from_settings(Settings(environment="test", home=tmp_path / "state",
                                               data_connections={"shop": f"sqlite:///{root / 'shop.db'}"}))
    assert load(access, source="shop", query="SELECT x FROM victim").x.tolist() == [1]
    with pytest.raises(InvalidInput, match="^dataset.query: must be a SELECT"):
        load(access, source="shop", query="DROP TABLE victim")
    with pytest.raises(InvalidInput, match="^dataset.path: source 'shop' is a database connection"):
        load(access, source="shop", path="x.csv")
    assert tables(root / "shop.db") == [("victim", 1)]


@pytest.mark.parametrize("field", ["path", "uri", "query", "target", "source"])
def test_a_nul_byte_is_refused_at_start_naming_the_field(field):
    where = {"source": "local", "path": "a.csv", "target": "y"}
    where[field] = "a\x00.csv" if field != "source" else "lo\x00cal"
    if field == "uri":
        where.pop("source"), where.pop("path")
    with pytest.raises(ValidationError) as refused:
        DatasetSpec.model_validate(where)
    assert describe_validation_error(refused.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("where", "problem"),
    [
        ({"source": "local", "path": "../../etc/passwd"}, "path: Value error, must be relative to the data root"),
        ({"source": "local", "path": "/etc/passwd"}, "path: Value error, must be relative to the data root"),
        ({"uri": "postgresql://db/x", "query": "SELECT 1"}, "server database URLs are not accepted"),
        ({"source": "local", "uri": "a.csv"}, "give either `source`"),
        ({"source": "local"}, "dataset.source needs dataset.path"),
    ],
)
def test_contract_refuses_shapes_no_setting_could_make_safe(where, problem):
    with pytest.raises(ValidationError) as refused:
        DatasetSpec.model_validate({"target": "y", **where})
    assert problem in describe_validation_error(refused.value)


def test_production_accepts_only_named_sources(tmp_path, root):
    strict = DataAccess.from_settings(Settings(environment="test", home=tmp_path / "state", dataset_raw_uris=False))
    with pytest.raises(InvalidInput, match=r"^dataset.uri: this deployment accepts only named data sources"):
        load(strict, uri=str(root / "ok.csv"))
    assert load(strict, source="local", path="ok.csv").y.tolist() == [2]


@pytest.fixture
def warehouse():
    """A PostgreSQL schema holding `victim`, as a named connection; skipped (with why) without PostgreSQL."""
    with postgres_schema("t", "CREATE TABLE {schema}.victim (x int)", "INSERT INTO {schema}.victim VALUES (1)") as (
            admin, schema):
        yield schema, DataAccess(roots={}, connections={"warehouse": POSTGRES_URL}, raw_uris=False)
        with admin.connect() as conn:
            survivors = sorted(conn.exec_driver_sql(
                f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}'").scalars())
        assert survivors == ["victim"], "an attack changed the warehouse"


@pytest.mark.postgres
@pytest.mark.parametrize("query", WRITES.values(), ids=WRITES.keys())
def test_postgres_writes_are_refused(warehouse, query):
    schema, access = warehouse
    with pytest.raises(InvalidInput, match=r"^dataset\.query: "):
        load(access, source="warehouse", query=query.replace("victim", f'"{schema}".victim')
             .replace("planted", f'"{schema}".planted'))


@pytest.mark.postgres
def test_postgres_reads_on_a_read_only_transaction(warehouse):
    schema, access = warehouse
    frame = load(access, source="warehouse", query="SELECT x, current_setting('transaction_read_only') AS ro, "
                 f"'a%b' AS literal FROM \"{schema}\".victim")
    assert frame.to_dict("records") == [{"x": 1, "ro": "on", "literal": "a%b"}]
    # Defence in depth: a write that got past the parser meets a read-only transaction.
    source = SqlSource(query=f'CREATE TABLE "{schema}".planted (x int)', backend="postgresql", url=POSTGRES_URL)
    with pytest.raises(InvalidInput, match="read-only transaction"):
        data._read_sql(source)
