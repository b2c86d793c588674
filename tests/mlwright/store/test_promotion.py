"""The promotion slot on SQLite and PostgreSQL: a queue of claims, and slot-checked stage changes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session

from mlwright.store import promotion, registry
from mlwright.store.db import session_scope
from tests.mlwright.store.test_registry import new_version


def holders(engine, model: str = "m") -> list[str]:
    with session_scope(engine) as s:
        return [c.workflow_id for c in promotion.queue(s, model_name=model)]


def test_the_oldest_claim_holds_the_slot_and_release_hands_it_on(engine):
    with session_scope(engine) as s:
        for wid in ("a", "b", "c"):
            promotion.claim(s, model_name="m", workflow_id=wid, run_id="r")
        promotion.claim(s, model_name="m", workflow_id="a", run_id="r")  # a retried claim keeps its place
        promotion.claim(s, model_name="other", workflow_id="z", run_id="r")
    assert holders(engine) == ["a", "b", "c"] and holders(engine, "other") == ["z"]
    with session_scope(engine) as s:
        # A waiter leaves, then the holder: the slot goes to the oldest remaining claim.
        assert promotion.release(s, model_name="m", workflow_id="b", run_id="r").workflow_id == "a"
        assert promotion.release(s, model_name="m", workflow_id="a", run_id="r").workflow_id == "c"
        again = promotion.release(s, model_name="m", workflow_id="a", run_id="r")  # idempotent
        assert again.workflow_id == "c"
        assert promotion.release(s, model_name="m", workflow_id="c", run_id="r") is None
    assert holders(engine) == []


def test_another_execution_of_the_same_workflow_id_is_another_claim(engine):
    with session_scope(engine) as s:
        promotion.claim(s, model_name="m", workflow_id="a", run_id="first")
        line = promotion.claim(s, model_name="m", workflow_id="a", run_id="second")
    assert [(c.workflow_id, c.run_id) for c in line] == [("a", "first"), ("a", "second")]


def test_stage_changes_that_require_the_slot_are_refused_to_any_other_run(engine):
    with session_scope(engine) as s:
        registry.register_version(s, data=new_version(run="a/r"))
        registry.register_version(s, data=new_version(run="b/r"))
        promotion.claim(s, model_name="m", workflow_id="a", run_id="r")
        promotion.claim(s, model_name="m", workflow_id="b", run_id="r")
    with session_scope(engine) as s, pytest.raises(promotion.PromotionSlotNotHeld, match="held by a"):
        registry.set_stage(s, model_name="m", version=2, stage="canary", actor="b", reason="",
                           idempotency_key="b/r/deploy_canary", slot_holder=("b", "r"))
    with session_scope(engine) as s, pytest.raises(promotion.PromotionSlotNotHeld, match="does not hold"):
        registry.retire_stage(s, model_name="m", stage="canary", actor="b", reason="",
                              idempotency_key="b/r/end", slot_holder=("b", "r"))
    with session_scope(engine) as s:
        registry.set_stage(s, model_name="m", version=1, stage="canary", actor="a", reason="",
                           idempotency_key="a/r/deploy_canary", slot_holder=("a", "r"))
        promotion.release(s, model_name="m", workflow_id="a", run_id="r")
    with session_scope(engine) as s:
        # The released holder's retry of a change it already made still answers; a new change does not pass.
        registry.set_stage(s, model_name="m", version=1, stage="canary", actor="a", reason="",
                           idempotency_key="a/r/deploy_canary", slot_holder=("a", "r"))
        with pytest.raises(promotion.PromotionSlotNotHeld, match="held by b"):
            registry.set_stage(s, model_name="m", version=1, stage="production", actor="a", reason="",
                               idempotency_key="a/r/promote", slot_holder=("a", "r"))
    with session_scope(engine) as s:
        assert registry.stage_holder(s, model_name="m", stage="canary").version == 1
        assert registry.stage_holder(s, model_name="m", stage="production") is None
        assert [t.idempotency_key for t in registry.transitions(s, model_name="m")] == ["a/r/deploy_canary"]


def test_concurrent_claims_form_one_queue(engine):
    if engine.url.get_backend_name() == "sqlite":
        pytest.skip("in-memory SQLite has a single connection; the race needs a server database")

    def claim(i: int) -> None:
        with Session(engine) as s:
            promotion.claim(s, model_name="m", workflow_id=f"w{i}", run_id="r")
            promotion.claim(s, model_name="m", workflow_id=f"w{i}", run_id="r")
            s.commit()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(claim, range(24)))
    assert sorted(holders(engine)) == sorted(f"w{i}" for i in range(24))
