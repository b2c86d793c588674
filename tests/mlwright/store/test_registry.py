"""Model registry on SQLite and PostgreSQL: versions, stages, audit trail, idempotency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session

from mlwright.errors import ModelNotFound
from mlwright.store import registry
from mlwright.store.db import session_scope
from mlwright.store.tables import ModelVersionCreate


def new_version(model: str = "m", run: str = "wf/run-1", **overrides) -> ModelVersionCreate:
    base = dict(model_name=model, task="classification", estimator="ridge", params={"alpha": 1.0},
                metrics={"f1": 0.9}, artifact_uri="file:///a", artifact_sha256="a" * 64, artifact_size=10,
                data_sha256="b" * 64, data_rows=100, source_run=run)
    return ModelVersionCreate(**{**base, **overrides})


def test_versions_count_up_per_model(engine):
    with session_scope(engine) as s:
        assert registry.register_version(s, data=new_version(run="r1")).version == 1
        assert registry.register_version(s, data=new_version(run="r2")).version == 2
        assert registry.register_version(s, data=new_version(model="other", run="r1")).version == 1
    with session_scope(engine) as s:
        assert [v.version for v in registry.list_versions(s, model_name="m")] == [1, 2]
        assert registry.get_version(s, model_name="m", version=2).params == {"alpha": 1.0}


def test_registering_the_same_run_twice_returns_the_first_version(engine):
    with session_scope(engine) as s:
        first = registry.register_version(s, data=new_version(run="r1"))
    with session_scope(engine) as s:
        again = registry.register_version(s, data=new_version(run="r1", metrics={"f1": 0.1}))
        assert (again.id, again.version, again.metrics) == (first.id, 1, {"f1": 0.9})
        assert len(registry.list_versions(s, model_name="m")) == 1


def test_concurrent_registrations_get_distinct_versions(engine):
    if engine.url.get_backend_name() == "sqlite":
        pytest.skip("in-memory SQLite has a single connection; the race needs a server database")

    def register(i: int) -> int:
        with Session(engine) as s:
            version = registry.register_version(s, data=new_version(run=f"r{i}")).version
            s.commit()
            return version

    with ThreadPoolExecutor(8) as pool:
        versions = sorted(pool.map(register, range(16)))
    assert versions == list(range(1, 17))


def test_stage_changes_are_recorded_with_actor_and_are_idempotent(engine):
    with session_scope(engine) as s:
        registry.register_version(s, data=new_version(run="r1"))
        registry.register_version(s, data=new_version(run="r2"))
        registry.set_stage(s, model_name="m", version=1, stage="production", actor="alice", reason="first",
                           idempotency_key="k1")
        registry.set_stage(s, model_name="m", version=2, stage="canary", traffic_fraction=0.1, actor="bob",
                           reason="try", idempotency_key="k2")
        registry.set_stage(s, model_name="m", version=2, stage="canary", traffic_fraction=0.1, actor="bob",
                           reason="retried", idempotency_key="k2")
        registry.set_stage(s, model_name="m", version=2, stage="production", actor="bob", reason="good",
                           idempotency_key="k3")
    with session_scope(engine) as s:
        assert registry.version_in_stage(s, model_name="m", stage="production").version == 2
        assert registry.stage_holder(s, model_name="m", stage="canary").traffic_fraction == 0.1
        trail = registry.transitions(s, model_name="m")
    assert [(t.stage, t.version, t.previous_version, t.actor) for t in trail] == [
        ("production", 1, None, "alice"), ("canary", 2, None, "bob"), ("production", 2, 1, "bob")]
    assert all(t.at is not None for t in trail)


def test_archiving_frees_every_stage_and_retire_empties_one(engine):
    with session_scope(engine) as s:
        registry.register_version(s, data=new_version(run="r1"))
        registry.set_stage(s, model_name="m", version=1, stage="staging", actor="p", reason="", idempotency_key="a")
        registry.set_stage(s, model_name="m", version=1, stage="canary", actor="p", reason="", idempotency_key="b")
        assert registry.retire_stage(s, model_name="m", stage="canary", actor="p", reason="done",
                                     idempotency_key="c") == 1
        assert registry.retire_stage(s, model_name="m", stage="canary", actor="p", reason="done",
                                     idempotency_key="c") == 1  # a retry reports the same
        registry.set_stage(s, model_name="m", version=1, stage="archived", actor="q", reason="no",
                           idempotency_key="d")
    with session_scope(engine) as s:
        assert registry.stage_holder(s, model_name="m", stage="staging") is None
        assert [t.stage for t in registry.transitions(s, model_name="m")] == ["staging", "canary", "canary",
                                                                           "archived"]


def test_unknown_version_is_refused(engine):
    with session_scope(engine) as s, pytest.raises(ModelNotFound, match="no version 3"):
        registry.set_stage(s, model_name="m", version=3, stage="production", actor="a", reason="",
                           idempotency_key="x")


def test_schema_creation_survives_concurrent_workers(tmp_path):
    from mlwright.store.db import init_db, make_engine

    url = f"sqlite:///{tmp_path / 'race.db'}"
    engines = [make_engine(url) for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(init_db, engines))
    with session_scope(engines[0]) as s:
        assert registry.list_versions(s, model_name="m") == []


def test_a_refused_approval_is_filed_once_and_moves_no_stage(engine):
    with session_scope(engine) as s:
        registry.register_version(s, data=new_version(run="r1"))
        registry.set_stage(s, model_name="m", version=1, stage="staging", actor="p", reason="", idempotency_key="a")
        for _ in range(2):  # a retried activity files it once
            registry.record_refusal(s, model_name="m", version=1, actor="eve", reason="approver must not be empty",
                                    idempotency_key="wf/run/refused-0")
    with session_scope(engine) as s:
        trail = [(t.stage, t.version, t.actor) for t in registry.transitions(s, model_name="m")]
        assert registry.stage_holder(s, model_name="m", stage="staging").version == 1
    assert trail == [("staging", 1, "p"), ("refused", 1, "eve")]
