"""Online store: latest value per entity, upserts that a retry cannot duplicate; SQLite and Redis."""

import uuid

import pandas as pd
import pytest

from mlwright.features.online import RedisOnlineStore, SqliteOnlineStore, open_online_store
from mlwright.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_or_skip():
    redis = pytest.importorskip("redis", reason="the redis client is not installed")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"Redis does not answer at {REDIS_URL}")
    # A unique prefix per test: no clash with other sessions, nothing to clean up by pattern.
    return RedisOnlineStore(REDIS_URL, prefix=f"mlwright-test:{uuid.uuid4().hex}")


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    if request.param == "sqlite":
        yield SqliteOnlineStore(f"sqlite:///{tmp_path / 'online.db'}")
        return
    redis_store = _redis_or_skip()
    yield redis_store
    for key in redis_store.client.scan_iter(f"{redis_store.prefix}:*"):
        redis_store.client.delete(key)


def _rows(day, values):
    return pd.DataFrame({"entity_id": list(values), "event_time": pd.Timestamp(day, tz="UTC"),
                         "age": [v for v in values.values()], "lab": [None, 1.5][: len(values)]})


def test_latest_value_per_entity_and_retries_write_nothing_twice(store):
    store.upsert("risk", _rows("2026-01-01", {"P1": 1.0, "P2": 2.0}))
    store.upsert("risk", _rows("2026-02-01", {"P1": 5.0}))
    store.upsert("risk", _rows("2026-02-01", {"P1": 5.0}))  # the retried step
    store.upsert("risk", _rows("2026-01-15", {"P1": 3.0}))  # an older backfill does not win
    got = store.get("risk", ["P1", "P2", "P404"])
    assert got["P1"]["age"] == 5.0 and got["P1"]["event_time"].startswith("2026-02-01")
    assert got["P2"]["age"] == 2.0 and got["P2"]["lab"] == 1.5
    assert "P404" not in got
    assert store.count("risk") == 2
    assert store.count("other") == 0


def test_settings_choose_the_backend(tmp_path, monkeypatch):
    monkeypatch.delenv("MLWRIGHT_REDIS_URL", raising=False)
    assert isinstance(open_online_store(Settings(home=tmp_path)), SqliteOnlineStore)
    _redis_or_skip()
    monkeypatch.setenv("MLWRIGHT_REDIS_URL", REDIS_URL)
    assert isinstance(open_online_store(Settings(home=tmp_path)), RedisOnlineStore)
