"""The step ledger: one row per activity attempt of a run, as its history counts them, tagged."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from temporalio.client import WorkflowFailureError

from mlwright import run_tags
from mlwright.contracts.training import TrainingInput, TrainingResult
from mlwright.store import ledger
from tests.conftest import running_workers


def body(csv, **extra) -> dict:
    return {"model_name": f"bc{uuid.uuid4().hex[:6]}", "dataset": {"uri": str(csv), "target": "target"},
            "estimator": {"name": "logistic_regression"}, **extra}


async def history_attempts(handle) -> dict[tuple[str, int], tuple[str, str]]:
    """(activity id, attempt) -> (step, outcome of that attempt), from the run's history.

    The server records only an activity's last attempt (its started event carries the attempt
    number); every earlier attempt failed and was retried.
    """
    scheduled, started, closed = {}, {}, {}
    for e in (await handle.fetch_history()).events:
        if e.HasField("activity_task_scheduled_event_attributes"):
            a = e.activity_task_scheduled_event_attributes
            scheduled[e.event_id] = (a.activity_id, a.activity_type.name)
        elif e.HasField("activity_task_started_event_attributes"):
            a = e.activity_task_started_event_attributes
            started[a.scheduled_event_id] = a.attempt
        elif e.HasField("activity_task_completed_event_attributes"):
            closed[e.activity_task_completed_event_attributes.scheduled_event_id] = "completed"
        elif e.HasField("activity_task_failed_event_attributes"):
            closed[e.activity_task_failed_event_attributes.scheduled_event_id] = "failed"
        elif e.HasField("activity_task_canceled_event_attributes"):
            closed[e.activity_task_canceled_event_attributes.scheduled_event_id] = "cancelled"
    out = {}
    for event_id, (activity_id, step) in scheduled.items():
        if event_id not in started:
            # No started event: the attempt never ran, or the run closed while it ran (the server
            # writes an activity's started event only when it closes): the ledger knows which.
            continue
        last = started[event_id]
        for attempt in range(1, last + 1):
            out[(activity_id, attempt)] = (step, closed[event_id] if attempt == last else "failed")
    return out


async def test_ledger_rows_of_a_run_equal_its_history_attempts_with_tags_and_cost(dev_env, settings, deps,
                                                                                  breast_cancer_csv):
    faulty = settings.model_copy(update={"fault_injection": "validate_data_quality:1",
                                         "cpu_hour_price": {"cpu": 3600.0, "io": 3600.0}})
    inp = body(breast_cancer_csv, quality={"min_rows": 10**6}, tags={"team": "care-ml", "project": "bc"})
    async with running_workers(dev_env.client, faulty, deps) as queues:
        handle = await dev_env.client.start_workflow(
            "TrainingPipeline", TrainingInput.model_validate(inp), id=f"ledger-{uuid.uuid4()}",
            task_queue=queues.pipelines, result_type=TrainingResult)
        with pytest.raises(WorkflowFailureError):  # the quality gate fails the run on attempt 2, by design
            await handle.result()
    expected = await history_attempts(handle)
    assert ("validate_data_quality", "failed") in expected.values() and len(expected) >= 3

    rows = ledger.rows_for(deps.engine, handle.id)
    assert {(r.activity_id, r.attempt): (r.step, r.outcome) for r in rows} == expected
    assert len(rows) == len(expected)  # no attempt twice
    injected = next(r for r in rows if r.step == "validate_data_quality" and r.attempt == 1)
    assert injected.error_type == "InjectedFault"
    gate = next(r for r in rows if r.step == "validate_data_quality" and r.attempt == 2)
    assert gate.error_type and gate.error_type != "InjectedFault"
    run_id = (await handle.describe()).run_id
    for r in rows:
        assert (r.pipeline, r.run_id, r.team, r.project) == ("TrainingPipeline", run_id, "care-ml", "bc")
        assert r.queue == f"{settings.task_queue_prefix}{r.resource}"
        assert r.ended_at >= r.started_at and r.wall_s >= 0 and r.cpu_s >= 0 and r.peak_rss_delta_mb >= 0
        # 3600 per CPU-hour on io and cpu: the cost is the CPU seconds themselves.
        assert r.cost == pytest.approx(r.cpu_s if r.resource in {"cpu", "io"} else 0.0)
    ran = [r for r in rows if r.outcome == "completed"]
    assert ran and all(r.wall_s > 0 for r in ran)
    assert any(r.rows_out for r in ran)  # the extraction reports its row count


def test_tags_come_from_the_input_or_the_parents_header_and_only_well_formed():
    assert run_tags.from_input([{"tags": {"team": "a", "project": "b", "other": "x"}}]) == {"team": "a",
                                                                                          "project": "b"}
    assert run_tags.from_input([{"tags": {"team": "has space", "project": 3}}]) == {}
    assert run_tags.from_input([b"raw"]) == {} and run_tags.from_input([]) == {}
    header = run_tags.to_header({"team": "a"})
    assert run_tags.from_headers({run_tags.HEADER: header}) == {"team": "a"}
    assert run_tags.from_headers({}) == {}


def test_tags_are_validated_as_part_of_the_input(breast_cancer_csv):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="tags.team"):
        TrainingInput.model_validate(body(breast_cancer_csv, tags={"team": "no spaces please"}))
    with pytest.raises(ValidationError, match="tags.owner"):
        TrainingInput.model_validate(body(breast_cancer_csv, tags={"owner": "x"}))



def test_interceptors_of_a_process_share_one_engine_and_concurrent_writes_land_once(settings):
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime

    from mlwright.step_ledger import StepLedgerInterceptor

    io, cpu = StepLedgerInterceptor(settings, "io"), StepLedgerInterceptor(settings, "cpu")
    assert io.engine is cpu.engine  # one engine per database per process, whichever queue wrote first
    now = datetime.now(UTC)
    rows = [{"pipeline": "P", "workflow_id": "w-concurrent", "run_id": "r", "step": "s", "activity_id": str(i),
             "attempt": 1, "queue": "q", "resource": "io", "started_at": now, "ended_at": now, "wall_s": 0.0,
             "cpu_s": 0.0, "peak_rss_delta_mb": 0.0, "outcome": "completed", "cost": 0.0} for i in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:  # every row twice, from both interceptors at once
        list(pool.map(lambda pair: pair[0].write(pair[1]), [(w, r) for r in rows for w in (io, cpu)]))
    assert sorted(int(r.activity_id) for r in ledger.rows_for(io.engine, "w-concurrent")) == list(range(40))


PEAK_PROBE = """
import subprocess, sys
held = bytearray(400 << 20)  # a large parent, as the benchmark that seeded a million patients
for i in range(0, len(held), 4096):
    held[i] = 1
child = '''
from mlwright.step_ledger import _peak_rss_mb
before = _peak_rss_mb()
grown = bytearray(150 << 20)
for i in range(0, len(grown), 4096):
    grown[i] = 1
print(round(_peak_rss_mb() - before))
'''
print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout)
"""


def test_a_steps_peak_rss_delta_is_its_own_process_not_its_parents():
    """Linux's ru_maxrss starts a child at its parent's peak: with it, a worker started by a large
    process recorded 0 for every step's peak RSS delta."""
    done = subprocess.run([sys.executable, "-c", PEAK_PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert 140 <= int(done.stdout.split()[-1]) <= 200
