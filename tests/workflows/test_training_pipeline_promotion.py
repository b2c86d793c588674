"""Concurrent TrainingPipeline runs of one model: one promotion slot, no run corrupts another's stages."""

from __future__ import annotations

import asyncio
import dataclasses

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from mlwright.contracts.training import ApprovalDecision, TrainingResult, TrainingStatus
from mlwright.store import promotion, registry
from mlwright.store.db import session_scope
from tests.conftest import running_workers
from tests.workflows.test_training_pipeline import start, training_input
from tests.workflows.waiting import wait_for_status


async def approve_all_until_done(handles: list[WorkflowHandle],
                                 timeout_s: float = 150) -> list[TrainingResult]:
    """Approve every run as soon as it awaits approval, as a diligent reviewer would; collect the results."""
    results = {h.id: asyncio.ensure_future(h.result()) for h in handles}
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not all(r.done() for r in results.values()):
        assert asyncio.get_running_loop().time() < deadline, "runs did not finish in time"
        pending = [h for h in handles if not results[h.id].done()]
        statuses = await asyncio.gather(*(h.query("status", result_type=TrainingStatus) for h in pending),
                                        return_exceptions=True)
        for handle, status in zip(pending, statuses, strict=True):
            if isinstance(status, TrainingStatus) and status.awaiting_approval:
                try:
                    await handle.execute_update("approve", ApprovalDecision(approver="alice", reason="ok"))
                except WorkflowUpdateFailedError:
                    pass  # decided between the query and the update
        await asyncio.sleep(0.2)
    return [results[h.id].result() for h in handles]


def contiguous(sequence: list[str]) -> bool:
    """True when equal items form one block each: no run's stage changes interleave with another's."""
    seen: list[str] = []
    for item in sequence:
        if seen and seen[-1] == item:
            continue
        if item in seen:
            return False
        seen.append(item)
    return True


async def test_concurrent_runs_of_one_model_promote_one_at_a_time(dev_env, settings, deps, breast_cancer_csv):
    runs = 30
    async with running_workers(dev_env.client, settings, deps) as queues:
        # Different seeds give different splits and models; a third of the runs promote on a tie, so
        # several candidates reach production in turn while the rest must beat it by the default margin.
        handles = [await start(dev_env.client, queues, training_input(
            breast_cancer_csv, split={"seed": i},
            promotion={"canary_duration": "1s", "min_improvement": 0.0 if i % 3 == 0 else 0.005}))
            for i in range(runs)]
        results = await approve_all_until_done(handles)

    decisions = [r.decision for r in results]
    assert set(decisions) <= {"promoted", "not_improved"}, decisions
    promoted = [r.version for r in results if r.decision == "promoted"]
    assert promoted and len(set(promoted)) == len(promoted)
    for r in results:
        if r.decision == "not_improved":  # compared with the production of its time, under the slot
            assert r.version is None and r.production_version is not None
    with session_scope(deps.engine) as session:
        trail = registry.transitions(session, model_name="bc")
        production = registry.version_in_stage(session, model_name="bc", stage="production").version
        registered = [v.version for v in registry.list_versions(session, model_name="bc")]
        left = promotion.queue(session, model_name="bc")
    # Exactly the versions reported promoted reached production, in the order they were registered.
    assert [t.version for t in trail if t.stage == "production"] == sorted(promoted)
    assert production == max(promoted) and registered == sorted(promoted)
    assert contiguous([t.idempotency_key.split("/")[0] for t in trail])
    assert not [t for t in trail if t.stage == "archived"]
    assert left == []


async def test_waiting_run_says_what_it_waits_for_and_takes_over_from_a_terminated_holder(
        dev_env, settings, deps, breast_cancer_csv):
    fast = settings.model_copy(update={"promotion_slot_poll_s": 0.5})
    deps = dataclasses.replace(deps, settings=fast)
    inp = training_input(breast_cancer_csv, promotion={"canary_duration": "1s"})
    async with running_workers(dev_env.client, fast, deps) as queues:
        holder = await start(dev_env.client, queues, inp)
        await wait_for_status(holder, lambda s: s.awaiting_approval)
        waiter = await start(dev_env.client, queues, training_input(
            breast_cancer_csv, split={"seed": 7}, promotion={"canary_duration": "1s"}))
        waiting = await wait_for_status(waiter, lambda s: s.step == "await_promotion_slot")
        assert waiting.waiting_for == f"promotion slot of bc held by {holder.id} (1 run(s) ahead)"
        assert not waiting.awaiting_approval and waiting.candidate_version is None

        await holder.terminate(reason="operator gave up on it")  # no code of the holder runs again
        ready = await wait_for_status(waiter, lambda s: s.awaiting_approval, timeout_s=30)
        assert ready.waiting_for is None and ready.candidate_version == 2
        await waiter.execute_update("approve", ApprovalDecision(approver="bob"))
        result = await waiter.result()

    assert result.decision == "promoted" and result.version == 2
    with session_scope(deps.engine) as session:
        trail = [(t.stage, t.version) for t in registry.transitions(session, model_name="bc")]
        assert promotion.queue(session, model_name="bc") == []
    # The terminated holder's v1 reached staging only; the canary and production judged v2 alone.
    assert trail == [("staging", 1), ("staging", 2), ("canary", 2), ("production", 2), ("canary", None)]


async def test_cancelled_holder_hands_the_slot_over_at_once(dev_env, settings, deps, breast_cancer_csv):
    inp = training_input(breast_cancer_csv)  # default poll 30 s: only the release signal is this fast
    async with running_workers(dev_env.client, settings, deps) as queues:
        holder = await start(dev_env.client, queues, inp)
        await wait_for_status(holder, lambda s: s.awaiting_approval)
        waiter = await start(dev_env.client, queues, training_input(breast_cancer_csv, split={"seed": 7}))
        await wait_for_status(waiter, lambda s: s.step == "await_promotion_slot")
        await holder.cancel()
        ready = await wait_for_status(waiter, lambda s: s.awaiting_approval, timeout_s=15)
        await waiter.execute_update("reject", ApprovalDecision(approver="bob", reason="test over"))
        assert (await waiter.result()).decision == "rejected"
    assert ready.candidate_version == 2
    with session_scope(deps.engine) as session:
        assert promotion.queue(session, model_name="bc") == []


async def test_release_hands_over_past_a_run_terminated_while_it_waited(dev_env, settings, deps,
                                                                         breast_cancer_csv):
    async with running_workers(dev_env.client, settings, deps) as queues:
        holder = await start(dev_env.client, queues, training_input(breast_cancer_csv))
        await wait_for_status(holder, lambda s: s.awaiting_approval)
        gone = await start(dev_env.client, queues, training_input(breast_cancer_csv, split={"seed": 1}))
        await wait_for_status(gone, lambda s: s.step == "await_promotion_slot")
        last = await start(dev_env.client, queues, training_input(breast_cancer_csv, split={"seed": 2}))
        await wait_for_status(last, lambda s: s.waiting_for is not None and "2 run(s) ahead" in s.waiting_for)
        await gone.terminate(reason="gave up waiting")
        await holder.execute_update("reject", ApprovalDecision(approver="bob", reason="next one"))
        # The default poll is 30 s: reaching approval sooner proves the holder skipped the closed run.
        ready = await wait_for_status(last, lambda s: s.awaiting_approval, timeout_s=15)
        await last.execute_update("reject", ApprovalDecision(approver="bob", reason="test over"))
        await last.result()
    assert ready.candidate_version == 2
    with session_scope(deps.engine) as session:
        assert promotion.queue(session, model_name="bc") == []


def test_contiguous_detects_interleaving():
    assert contiguous(["a", "a", "b", "c", "c"]) and not contiguous(["a", "b", "a"])


