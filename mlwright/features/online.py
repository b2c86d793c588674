"""Online feature store: the latest feature values per entity, for serving.

SQLite by default; Redis when ``MLWRIGHT_REDIS_URL`` is set. Writes are upserts keyed by
(feature set, entity) that keep the row with the newest ``event_time`` (ties: the new write, with
the same values on a retry), so a retried or replayed write leaves exactly one row per entity and
an older backfill never overwrites a newer value.
"""

from __future__ import annotations

import json
from typing import Protocol

import pandas as pd
import sqlalchemy
from sqlalchemy import text

_BATCH = 5_000


class OnlineStore(Protocol):
    def upsert(self, feature_set: str, frame: pd.DataFrame) -> int: ...
    def get(self, feature_set: str, entity_ids: list[str]) -> dict[str, dict]: ...
    def count(self, feature_set: str) -> int: ...


def _records(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(entity_id, event_time ISO, JSON of the feature values) per row; NaN becomes null."""
    times = pd.to_datetime(frame["event_time"], utc=True).map(lambda t: t.isoformat())
    values = frame.drop(columns=["entity_id", "event_time"])
    payload = values.astype(object).where(values.notna(), None).to_dict("records")
    return [(str(e), t, json.dumps(p)) for e, t, p in zip(frame["entity_id"], times, payload, strict=True)]


class SqliteOnlineStore:
    def __init__(self, url: str):
        self.engine = sqlalchemy.create_engine(url)
        with self.engine.begin() as conn:
            conn.execute(text(
                "create table if not exists online_features (feature_set text not null, entity_id text not null,"
                " event_time text not null, features text not null, primary key (feature_set, entity_id))"))

    def upsert(self, feature_set: str, frame: pd.DataFrame) -> int:
        rows = [{"fs": feature_set, "e": e, "t": t, "f": f} for e, t, f in _records(frame)]
        with self.engine.begin() as conn:
            for i in range(0, len(rows), _BATCH):
                conn.execute(text(
                    "insert into online_features values (:fs, :e, :t, :f) on conflict (feature_set, entity_id)"
                    " do update set event_time = excluded.event_time, features = excluded.features"
                    " where excluded.event_time >= online_features.event_time"), rows[i:i + _BATCH])
        return len(rows)

    def get(self, feature_set: str, entity_ids: list[str]) -> dict[str, dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(text(
                "select entity_id, event_time, features from online_features where feature_set = :fs"
                " and entity_id in :ids").bindparams(sqlalchemy.bindparam("ids", expanding=True)),
                {"fs": feature_set, "ids": list(entity_ids)}).all()
        return {e: {"event_time": t, **json.loads(f)} for e, t, f in rows}

    def count(self, feature_set: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(text("select count(*) from online_features where feature_set = :fs"),
                                {"fs": feature_set}).scalar_one()


# Newest event_time wins, atomically on the server (ISO UTC strings compare in time order).
_UPSERT = """
local old = redis.call('HGET', KEYS[1], 'event_time')
if (not old) or ARGV[1] >= old then
  redis.call('HSET', KEYS[1], 'event_time', ARGV[1], 'features', ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[3])
  return 1
end
return 0
"""


class RedisOnlineStore:
    def __init__(self, url: str, prefix: str = "mlwright:features"):
        import redis

        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.prefix = prefix
        self.script = self.client.register_script(_UPSERT)

    def _key(self, feature_set: str, entity: str) -> str:
        return f"{self.prefix}:{feature_set}:{entity}"

    def upsert(self, feature_set: str, frame: pd.DataFrame) -> int:
        members = f"{self.prefix}:{feature_set}:__entities__"
        records = _records(frame)
        for i in range(0, len(records), _BATCH):
            pipe = self.client.pipeline(transaction=False)
            for e, t, f in records[i:i + _BATCH]:
                self.script(keys=[self._key(feature_set, e), members], args=[t, f, e], client=pipe)
            pipe.execute()
        return len(records)

    def get(self, feature_set: str, entity_ids: list[str]) -> dict[str, dict]:
        pipe = self.client.pipeline(transaction=False)
        for e in entity_ids:
            pipe.hgetall(self._key(feature_set, e))
        out = {}
        for e, row in zip(entity_ids, pipe.execute(), strict=True):
            if row:
                out[e] = {"event_time": row["event_time"], **json.loads(row["features"])}
        return out

    def count(self, feature_set: str) -> int:
        return self.client.scard(f"{self.prefix}:{feature_set}:__entities__")


def open_online_store(settings) -> OnlineStore:
    if settings.redis_url:
        return RedisOnlineStore(settings.redis_url)
    url = settings.online_store_url or f"sqlite:///{(settings.home / 'online.db').resolve()}"
    return SqliteOnlineStore(url)
