"""The step ledger of a patient-risk run that an operator aborted mid-step."""

from __future__ import annotations

import asyncio
import json

import pytest
from temporalio.client import WorkflowFailureError

from activities.deps import ActivityDeps
from mlwright.store import ledger
from tests.conftest import running_workers, target_of
from tests.e2e.temporal_cli import temporal
from tests.mlwright.test_step_ledger import history_attempts
from tests.workflows.patient_risk_world import RUN_DATE
from tests.workflows.test_patient_risk import start_slow_pharmacy_paging, world  # noqa: F401 (fixture)


async def test_an_aborted_runs_ledger_equals_its_history_and_the_step_in_flight_is_cancelled(dev_env, world):  # noqa: F811
    settings = world.variant()
    day = RUN_DATE.replace(day=21)
    world.pharmacy.delay = 0.05
    deps = ActivityDeps.from_settings(settings)
    try:
        async with running_workers(dev_env.client, settings, deps) as queues:
            handle = await start_slow_pharmacy_paging(dev_env, world, queues, day)
            await temporal("workflow", "update", "execute", "-w", handle.id, "--name", "abort", "--input",
                           json.dumps({"operator": "ana", "reason": "drill"}), address=target_of(dev_env.client))
            with pytest.raises(WorkflowFailureError):
                await asyncio.wait_for(handle.result(), timeout=30)
    finally:
        world.pharmacy.delay = 0.0
    expected = await history_attempts(handle)
    rows = ledger.rows_for(deps.engine, handle.id)
    [pharmacy] = [r for r in rows if r.step == "extract_pharmacy"]
    # The run closed while extract_pharmacy ran, so its history has no started event for it (the
    # server writes one when an activity closes); every other attempt matches the history's.
    assert {(r.activity_id, r.attempt): (r.step, r.outcome) for r in rows if r is not pharmacy} == expected
    assert (pharmacy.activity_id, pharmacy.attempt) not in expected
    assert pharmacy.outcome == "cancelled" and pharmacy.wall_s > 0.4  # it paged for a while first
    assert {r.pipeline for r in rows} == {"PatientRiskPipeline"}
