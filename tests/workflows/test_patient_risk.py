"""PatientRiskPipeline end to end on the dev server: real sources, services, models and writes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections import Counter
from datetime import date

import httpx
import pandas as pd
import pytest
import pytest_asyncio
import sqlalchemy as sa
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError

from activities.deps import ActivityDeps
from activities.patient_risk.notify import UNCONFIRMED_PER_SENDER
from mlwright import cli_report, visibility
from mlwright.contracts.patient_risk import Abort, PatientRiskInput, PatientRiskResult, Progress
from mlwright.patient_risk import bootstrap
from mlwright.queues import Resource
from mlwright.reporting.sources import load_runs
from mlwright.store import runs
from mlwright.store.db import session_scope
from tests.conftest import running_workers, target_of
from tests.e2e.temporal_cli import attributes, failure_messages, listed, temporal
from tests.workflows.patient_risk_world import PATIENTS, RUN_DATE, World, start_services

pytestmark = pytest.mark.e2e


@pytest_asyncio.fixture(scope="module")
async def world(dev_env, tmp_path_factory):
    settings, inbox, dials, servers = start_services(tmp_path_factory.mktemp("hospital"))
    w = World(settings=settings.model_copy(update={"task_queue_prefix": "prboot-"}), inbox=inbox, **dials)
    deps = ActivityDeps.from_settings(w.settings)
    async with running_workers(dev_env.client, w.settings, deps):
        await bootstrap.train_models(dev_env.client, w.settings, patients=2000, seed=5, run_date=RUN_DATE,
                                     say=lambda _line: None)
    yield w
    for server in servers:
        server.stop()


async def start(client, queues, run_date=RUN_DATE, **extra):
    inp = PatientRiskInput.model_validate({"run_date": run_date.isoformat(), **extra})
    return await client.start_workflow("PatientRiskPipeline", inp, id=f"patient-risk-{uuid.uuid4()}",
                                       task_queue=queues.pipelines, result_type=PatientRiskResult)


def care_rows(settings, run_date) -> int:
    engine = sa.create_engine(settings.resolved_care_database_url)
    with engine.connect() as conn:
        return conn.execute(sa.text("select count(*) from care_risk_score where run_date = :d"),
                            {"d": run_date}).scalar_one()


def fhir_total(settings, run_date) -> int:
    return httpx.get(f"{settings.fhir_url}/RiskAssessment", params={"date": run_date, "_count": 1}).json()["total"]


def high_risk_alerts(world, run_date) -> Counter:
    return Counter(a["patient_id"] for a in world.inbox.received
                   if a["kind"] == "high_risk_patient" and a["run_date"] == run_date)


async def test_a_run_writes_both_systems_once_and_alerts_once_even_when_repeated(dev_env, world):
    settings = world.variant()
    deps = ActivityDeps.from_settings(settings)
    day = RUN_DATE.isoformat()
    async with running_workers(dev_env.client, settings, deps) as queues:
        first = await (await start(dev_env.client, queues)).result()
        second = await (await start(dev_env.client, queues)).result()

    assert first.state == "completed" and first.patients == PATIENTS
    assert [s.number for s in first.steps] == list(range(1, 24))
    assert all(s.state == "completed" and s.attempts == 1 for s in first.steps)
    assert set(first.model_versions) == {"readmission-risk", "deterioration-risk", "acuity-risk"}
    assert sum(first.tiers.values()) == PATIENTS and 0 < first.tiers.get("high", 0) < PATIENTS / 2
    assert care_rows(settings, day) == PATIENTS and fhir_total(settings, day) == PATIENTS
    alerts = high_risk_alerts(world, day)
    assert len(alerts) == first.tiers["high"] and set(alerts.values()) == {1}
    assert first.alerts_sent == first.tiers["high"] and second.alerts_sent == 0
    assert second.tiers == first.tiers
    await assert_no_patient_data_in_visible_fields(dev_env.client, settings, day)
    example = next(a for a in world.inbox.received if a["kind"] == "high_risk_patient")
    assert set(example) >= {"dedup_key", "severity", "patient_id", "scores", "run_url"}
    assert "age" not in example and "creatinine_last" not in example  # no raw clinical data leaves
    with session_scope(deps.engine) as session:
        assert len(runs.alerts_for(session, run_date=day, kind="high_risk_patient")) == first.tiers["high"]


async def assert_no_patient_data_in_visible_fields(client, settings, run_date: str) -> None:
    """Workflow ids, search attributes and memos are shown to anyone who may list runs: no patient ids."""
    engine = sa.create_engine(settings.resolved_care_database_url)
    with engine.connect() as conn:
        ids = set(conn.execute(sa.text("select patient_id from care_risk_score where run_date = :d"),
                               {"d": run_date}).scalars())
    assert len(ids) == PATIENTS
    query = f'WorkflowType = "PatientRiskPipeline" AND TaskQueue = "{settings.task_queue_prefix}pipelines"'
    for _ in range(300):  # visibility is updated asynchronously: wait until it lists both runs
        runs = [run async for run in client.list_workflows(query)]
        if len(runs) == 2:
            break
        await asyncio.sleep(0.1)
    visible = []
    for run in runs:
        described = await client.get_workflow_handle(run.id, run_id=run.run_id).describe()
        visible += [run.id, repr(described.typed_search_attributes), repr(await described.memo())]
    assert len(visible) == 6 and "PatientRiskPipeline" in visible[1] and "MlwrightRunDate" in visible[1]
    assert not [i for i in ids if any(i in text for text in visible)]


async def wait_progress(handle, condition, timeout_s: float = 60) -> Progress:
    for _ in range(int(timeout_s * 10)):
        progress = await handle.query("progress", result_type=Progress)
        if condition(progress):
            return progress
        await asyncio.sleep(0.1)
    raise AssertionError(f"progress never matched: {progress}")


def step_of(progress: Progress | PatientRiskResult, name: str):
    return next(s for s in progress.steps if s.name == name)


async def test_failure_at_step_14_pages_once_and_resumes_from_the_cli(dev_env, world):
    # Three injected failures exhaust the step's three attempts; the operator's retry then succeeds.
    settings = world.variant(fault_injection="model_deterioration:3")
    day = "2026-11-26"
    address = target_of(dev_env.client)
    async with running_workers(dev_env.client, settings, ActivityDeps.from_settings(settings)) as queues:
        handle = await start(dev_env.client, queues, run_date=RUN_DATE.replace(day=26))
        # `awaiting_operator` promises on-call was told: the page must be in the inbox by then.
        progress = await wait_progress(handle, lambda p: p.state == "awaiting_operator")
        failed = step_of(progress, "model_deterioration")
        assert (failed.number, failed.state, failed.attempts) == (14, "awaiting_operator", 3)
        assert "injected fault" in failed.error
        assert failed.page.delivered_at is not None and failed.page.error is None
        assert all(s.state == "completed" for s in progress.steps[:13])
        assert all(s.state == "pending" for s in progress.steps[14:])

        pages = [a for a in world.inbox.received if a["kind"] == "step_failed" and a["run_date"] == day]
        assert len(pages) == 1
        waiting = await listed(address, f'MlwrightState = "awaiting_operator" AND TaskQueue = "{queues.pipelines}"',
                               lambda runs: len(runs) == 1)
        assert attributes(waiting[0]) | {"MlwrightPipeline": "PatientRiskPipeline", "MlwrightStep": "model_deterioration",
                                         "MlwrightRunDate": f"{day}T00:00:00Z"} == attributes(waiting[0])
        page = pages[0]
        assert page["dedup_key"] == failed.page.dedup_key
        assert (page["severity"], page["step"], page["step_number"], page["attempts"]) == ("critical",
                                                                                          "model_deterioration", 14, 3)
        assert page["run_url"].endswith(f"/workflows/{handle.id}") and "retry_step" in page["commands"]["retry"]
        assert page["waiting_runs_url"].endswith("/workflows?query=MlwrightState%3D%22awaiting_operator%22")
        assert "skip" not in page["commands"]  # step 14 feeds step 15: not skippable

        refused = await temporal("workflow", "update", "execute", "-w", handle.id, "--name", "skip_step", "--input",
                                 json.dumps({"step": "model_deterioration", "operator": "ana", "reason": "x"}),
                                 address=address, check=False)
        assert refused.returncode != 0 and "is not skippable" in refused.stderr
        await temporal("workflow", "update", "execute", "-w", handle.id, "--name", "retry_step", "--input",
                       json.dumps({"step": "model_deterioration", "operator": "ana", "reason": "fixed"}),
                       address=address)
        result = await handle.result()

    assert result.state == "completed" and care_rows(settings, day) == PATIENTS
    assert step_of(result, "model_deterioration").attempts == 4
    done = (await handle.describe()).typed_search_attributes
    assert (done.get(visibility.STATE), done.get(visibility.STEP)) == ("completed", None)
    scheduled = Counter()
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.activity_task_scheduled_event_attributes.activity_type.name] += 1
    steps_1_to_13 = [s.name for s in result.steps[:13]]
    assert all(scheduled[name] == 1 for name in steps_1_to_13), scheduled
    # One page, then its resolve once the operator's retry succeeded (issue 8).
    assert scheduled["model_deterioration"] == 2 and scheduled["send_operator_alert"] == 2
    assert len([a for a in world.inbox.received if a["kind"] == "step_failed" and a["run_date"] == day]) == 1
    (resolve,) = [a for a in world.inbox.received if a["kind"] == "step_resolved" and a["run_date"] == day]
    assert (resolve["event_action"], resolve["step"], resolve["dedup_key"]) == (
        "resolve", "model_deterioration", f"{page['dedup_key']}/resolved")
    assert resolve["incident_key"] == page["incident_key"] == f"PatientRiskPipeline/model_deterioration/{day}".replace(
        f"/{day}", f"/{page['cause']}/{day}")

    # `mlwright report` over this real run: the operator's retry_step from the history, MTTR from
    # the stored page to the run's close (issue 8).
    described = await handle.describe()
    facts = [f for f in await load_runs(dev_env.client, described.start_time, "PatientRiskPipeline")
             if f.workflow_id == handle.id]
    report = cli_report.build(settings, described.start_time, None, facts)
    (figures,) = report.pipelines
    with session_scope(ActivityDeps.from_settings(settings).engine) as session:
        paged_at = next(a.created_at for a in runs.alerts_for(session, run_date=day, kind="step_failed"))
    expected_mttr = (described.close_time - paged_at.replace(tzinfo=described.close_time.tzinfo)).total_seconds() / 60
    assert [kind for kind, _ in facts[0].actions] == ["retry_step"] and facts[0].status == "completed"
    assert (figures.runs, figures.success_rate, figures.manual_intervention_rate) == (1, 1.0, 1.0)
    assert figures.mttr_min == pytest.approx(expected_mttr, abs=1e-3) and figures.mttr_min > 0
    # Per-step figures come from the step ledger: step 14's four attempts (three failed, one retried).
    steps = {s.step: s for s in figures.steps}
    assert steps["model_deterioration"].attempts == 4 and steps["model_deterioration"].queue.endswith("cpu")
    assert steps["model_deterioration"].concurrency == settings.cpu_concurrency


def spawn_worker(world, settings, address, log_path) -> subprocess.Popen:
    env = {**os.environ, **world.env(settings, address)}
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "workers", "io", "cpu"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)


async def run_killing_the_io_worker(dev_env, world, tmp_path, day: int, dial, done, enough: int, **extra):
    """Start a run on an io/cpu worker process, SIGKILL it once ``done()`` (the work of the step to
    interrupt) reaches ``enough`` (``dial`` slows that step's service so it lasts seconds), then start
    a second worker; returns the settings, the result and ``done()`` at the kill."""
    settings = world.variant()
    address = target_of(dev_env.client)
    deps = ActivityDeps.from_settings(settings)
    first = spawn_worker(world, settings, address, tmp_path / "worker-1.log")
    second = None
    try:
        async with running_workers(dev_env.client, settings, deps, resources=[Resource.PIPELINES]) as queues:
            handle = await start(dev_env.client, queues, run_date=RUN_DATE.replace(day=day), **extra)
            for _ in range(1200):
                if done() >= enough:
                    break
                await asyncio.sleep(0.05)
            first.send_signal(signal.SIGKILL)
            first.wait()
            seen = done()
            dial.delay = 0.0
            second = spawn_worker(world, settings, address, tmp_path / "worker-2.log")
            result = await asyncio.wait_for(handle.result(), timeout=120)
    finally:
        dial.delay = 0.0
        for proc in (first, second):
            if proc and proc.poll() is None:
                proc.terminate()
                proc.wait()
    return settings, result, seen


async def test_worker_killed_mid_step_leaves_no_duplicates(dev_env, world, tmp_path):
    day = "2026-11-25"
    # 30 bundles of 10, 3 at a time: the FHIR write takes seconds, time to kill the worker in it
    world.fhir.delay, world.fhir.peak_busy = 0.5, 0
    settings, result, written_before = await run_killing_the_io_worker(
        dev_env, world, tmp_path, 25, world.fhir, lambda: fhir_total(world.settings, day), 1,
        options={"write_fhir": {"batch_size": 10, "max_in_flight": 3}})

    assert 0 < written_before < PATIENTS, "the kill must land inside the step"
    assert world.fhir.peak_busy >= 2, "bundles were in flight together when the worker died"
    assert result.state == "completed" and step_of(result, "write_fhir").attempts == 2
    assert care_rows(settings, day) == PATIENTS and fhir_total(settings, day) == PATIENTS
    alerts = high_risk_alerts(world, day)
    assert len(alerts) == result.tiers["high"] and set(alerts.values()) == {1}


async def test_worker_killed_mid_send_alerts_delivers_each_alert_once(dev_env, world, tmp_path):
    day = "2026-11-24"
    # One delivery at a time, 0.3 s each at the inbox: the day's alerts take seconds to send.
    world.alerts.delay, in_flight = 0.3, 1
    settings, result, accepted_at_kill = await run_killing_the_io_worker(
        dev_env, world, tmp_path, 24, world.alerts, lambda: len(high_risk_alerts(world, day)), in_flight,
        options={"send_alerts": {"max_in_flight": in_flight}})

    high = result.tiers["high"]
    assert 0 < accepted_at_kill < high, "the kill must land inside send_alerts"
    assert result.state == "completed" and step_of(result, "send_alerts").attempts == 2
    # The receiver accepted every high-risk alert exactly once; nothing was lost.
    accepted = high_risk_alerts(world, day)
    with session_scope(ActivityDeps.from_settings(settings).engine) as session:
        rows = runs.alerts_for(session, run_date=day, kind="high_risk_patient")
    assert len(accepted) == high and set(accepted.values()) == {1}
    assert {f"patient-risk/{day}/{pid}/high_risk" for pid in accepted} == {r.dedup_key for r in rows}
    assert all(r.sent_at is not None for r in rows)
    # What the sender alone guarantees: only the alerts unconfirmed at the kill (in flight, or delivered
    # and not yet marked) went out twice.
    deliveries = {key: n for key, n in world.inbox.deliveries.items() if key.startswith(f"patient-risk/{day}/")}
    repeated = [key for key, n in deliveries.items() if n > 1]
    assert len(deliveries) == high and max(deliveries.values()) <= 2
    assert len(repeated) <= UNCONFIRMED_PER_SENDER * in_flight < high


def with_options(options: dict) -> str:
    return json.dumps({"run_date": "2026-11-27", "options": options})


async def start_from_the_cli(dev_env, world, wid: str, body: str):
    """Start a PatientRiskPipeline with ``body`` from the Temporal CLI on a pipelines worker, and
    return `temporal workflow result` once the run has ended."""
    settings = world.variant()
    async with running_workers(dev_env.client, settings, ActivityDeps.from_settings(settings),
                               resources=[Resource.PIPELINES]) as queues:
        await temporal("workflow", "start", "--type", "PatientRiskPipeline", "--task-queue", queues.pipelines,
                       "--workflow-id", wid, "--input", body, address=target_of(dev_env.client))
        return await temporal("workflow", "result", "-w", wid, address=target_of(dev_env.client), check=False)


@pytest.mark.parametrize(("bad", "named"), [
    ('{"run_date": "27/11/2026"}', "run_date: Value error, expected YYYY-MM-DD"),
    ('{"run_date": "2026-11-27", "fhir_batch_size": 0}', "fhir_batch_size"),
    ('{"rundate": "2026-11-27"}', "run_date: Field required"),
    (with_options({"write_fhir": {"batch_size": 0}}), "options.write_fhir.batch_size: Input should be greater than"),
    (with_options({"write_fhir": {"batch_size": -1}}), "options.write_fhir.batch_size: Input should be greater than"),
    (with_options({"write_fhir": {"batch_size": 10**6}}), "options.write_fhir.batch_size: Input should be less than"),
    (with_options({"extract_pharmacy": {"page_size": 0}}), "options.extract_pharmacy.page_size: Input should be"),
    (with_options({"validate_labs": {"max_invalid_ratio": "lots"}}),
     "options.validate_labs.max_invalid_ratio: Input should be a valid number"),
    (with_options({"validate_lab": {"max_invalid_ratio": 0.2}}), "options.validate_lab: Extra inputs are not permitted"),
    (with_options({"write_fhir": {"batchsize": 10}}), "options.write_fhir.batchsize: Extra inputs are not permitted"),
], ids=lambda v: v if len(v) < 40 else None)
async def test_bad_run_input_fails_at_once_naming_the_field(dev_env, world, bad, named):
    address = target_of(dev_env.client)
    wid = f"bad-{uuid.uuid4()}"
    outcome = await start_from_the_cli(dev_env, world, wid, bad)
    assert outcome.returncode != 0
    # Failure messages are sealed ("Encoded failure" in `workflow result`); the decoded history names the field.
    history = await temporal("workflow", "show", "-w", wid, "-o", "json", address=address)
    assert any(named in message for message in failure_messages(json.loads(history.stdout)))


async def test_a_run_whose_input_is_refused_is_listed_as_failed_under_its_pipeline(dev_env, world):
    address = target_of(dev_env.client)
    wid = f"bad-listed-{uuid.uuid4()}"
    assert (await start_from_the_cli(dev_env, world, wid, '{"run_date": "2026-13-40"}')).returncode != 0
    found = await listed(address, f'MlwrightPipeline = "PatientRiskPipeline" AND MlwrightState = "failed" '
                                  f'AND WorkflowId = "{wid}"', lambda runs: len(runs) == 1)
    assert attributes(found[0])["MlwrightTriggeredBy"] == "cli" and "MlwrightRunDate" not in attributes(found[0])


async def test_missing_and_malformed_sources_are_named_and_the_run_can_be_aborted(dev_env, world, tmp_path):
    sources_root = tmp_path / "sources"
    shutil.copytree(world.settings.resolved_sources_root, sources_root)
    for csv in (sources_root / "claims").glob("*.csv"):
        pd.read_csv(csv).rename(columns={"amount": "amt"}).to_csv(csv, index=False)
    (sources_root / "labs" / f"{RUN_DATE.isoformat()}.parquet").unlink()
    for older in sorted((sources_root / "labs").glob("*.parquet")):
        older.unlink()
    settings = world.variant(sources_root=sources_root, ehr_url=f"sqlite:///{sources_root / 'ehr.db'}")
    async with running_workers(dev_env.client, settings, ActivityDeps.from_settings(settings)) as queues:
        handle = await start(dev_env.client, queues)
        progress = await wait_progress(handle, lambda p: step_of(p, "extract_labs").state == "awaiting_operator"
                                       and step_of(p, "validate_claims").state == "awaiting_operator")
        assert "DatasetNotFound" in step_of(progress, "extract_labs").error
        assert "sources.labs: no daily files" in step_of(progress, "extract_labs").error
        claims_error = step_of(progress, "validate_claims").error
        assert "DataQualityFailed" in claims_error and "missing columns ['amount']" in claims_error
        await handle.execute_update("abort", Abort(operator="ana", reason="claims feed changed its schema"))
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert "aborted by ana: claims feed changed its schema" in str(failed.value.cause)


async def test_a_resumed_run_is_one_trace_without_patient_data_and_mlwright_trace_draws_it(dev_env, world, tmp_path):
    """Issue 8: step 14 fails until the operator's retry_step; the whole run is one trace, free of patient ids."""
    from mlwright.patient_risk import synthetic
    from mlwright.span_store import SpanStore, SpanStoreExporter
    from tests.tracing_helpers import ancestors, collected_spans, leaks, of_workflow, span_text

    settings = world.variant(fault_injection="model_deterioration:3")
    day = RUN_DATE.replace(day=18)
    store = SpanStore(tmp_path / "traces.db")
    with collected_spans(SpanStoreExporter(store)) as spans:
        async with running_workers(dev_env.client, settings, ActivityDeps.from_settings(settings)) as queues:
            handle = await start(dev_env.client, queues, run_date=day)
            await wait_progress(handle, lambda p: p.state == "awaiting_operator")
            await temporal("workflow", "update", "execute", "-w", handle.id, "--name", "retry_step", "--input",
                           json.dumps({"step": "model_deterioration", "operator": "ana", "reason": "fixed"}),
                           address=target_of(dev_env.client))
            result = await handle.result()
    assert result.state == "completed"
    finished = spans.get_finished_spans()
    [root] = [s for s in finished if s.name == "RunWorkflow:PatientRiskPipeline"
              and s.attributes["temporalWorkflowID"] == handle.id]
    run = [s for s in of_workflow(finished, handle.id) if s.context.trace_id == root.context.trace_id]
    tries = sorted((s for s in run if s.name == "RunActivity:model_deterioration"), key=lambda s: s.start_time)
    assert [(s.attributes["mlwright.attempt"], s.status.is_ok) for s in tries] == [(1, False), (2, False),
                                                                                   (3, False), (1, True)]
    assert all(ancestors(s, run)[1] == root.name for s in tries)  # the resumed attempt too: same trace
    assert tries[3].parent.span_id != tries[0].parent.span_id  # retry_step scheduled the step anew
    assert {f"RunActivity:{s.name}" for s in result.steps} <= {s.name for s in run}

    seeded = set(synthetic.generate(PATIENTS, seed=11, run_date=RUN_DATE).patients["patient_id"])
    engine = sa.create_engine(settings.resolved_care_database_url)
    with engine.connect() as conn:
        scored = set(conn.execute(sa.text("select patient_id from care_risk_score where run_date = :d"),
                                  {"d": day.isoformat()}).scalars())
    assert len(scored) == PATIENTS and leaks(["scored P0000007"], seeded) == {"P0000007"}  # the scan can see one
    assert leaks([span_text(s) for s in finished], seeded | scored) == set()

    env = {**os.environ, "MLWRIGHT_HOME": str(settings.home), "MLWRIGHT_TRACE_STORE_PATH": str(store.path),
           "MLWRIGHT_TEMPORAL_ADDRESS": target_of(dev_env.client)}
    shown = subprocess.run([sys.executable, "-m", "mlwright.cli", "trace", handle.id], env=env, capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert [s.name for s in result.steps if s.name not in shown.stdout] == []
    assert shown.stdout.count("model_deterioration") == 4 and "error" in shown.stdout


async def wait_quiet(count, quiet_s: float = 1.0, timeout_s: float = 30.0) -> int:
    """``count()`` once it has not grown for ``quiet_s`` (a step paging at 0.05 s a request makes 20
    requests in that time); fails if it still grows after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline, last, since = loop.time() + timeout_s, count(), loop.time()
    while loop.time() < deadline:
        await asyncio.sleep(0.1)
        if count() != last:
            last, since = count(), loop.time()
        elif loop.time() - since >= quiet_s:
            return last
    raise AssertionError(f"the service still receives requests {timeout_s} s later ({count()} so far)")


async def start_slow_pharmacy_paging(dev_env, world, queues, day: date):
    """A run whose pharmacy extraction pages one fill at a time at 0.05 s a page (minutes of work),
    returned once that paging is under way."""
    handle = await start(dev_env.client, queues, run_date=day, options={"extract_pharmacy": {"page_size": 1}})
    for _ in range(600):
        if world.pharmacy.by_date[day.isoformat()] >= 10:
            return handle
        await asyncio.sleep(0.05)
    raise AssertionError("the pharmacy extraction never started paging")


async def test_abort_and_terminate_stop_the_step_in_flight(dev_env, world):
    settings = world.variant()
    address = target_of(dev_env.client)
    aborted_day, terminated_day = RUN_DATE.replace(day=23), RUN_DATE.replace(day=22)
    world.pharmacy.delay = 0.05
    try:
        async with running_workers(dev_env.client, settings, ActivityDeps.from_settings(settings)) as queues:
            aborted, terminated = await asyncio.gather(start_slow_pharmacy_paging(dev_env, world, queues, aborted_day),
                                                       start_slow_pharmacy_paging(dev_env, world, queues,
                                                                                  terminated_day))
            await asyncio.gather(
                temporal("workflow", "update", "execute", "-w", aborted.id, "--name", "abort", "--input",
                         json.dumps({"operator": "ana", "reason": "pharmacy feed is wrong"}), address=address),
                temporal("workflow", "terminate", "-w", terminated.id, "--reason", "drill", address=address))
            with pytest.raises(WorkflowFailureError) as failed:
                await asyncio.wait_for(aborted.result(), timeout=30)
            # Each worker thread learns from its next heartbeat's reply and stops between pages.
            await asyncio.gather(*(wait_quiet(lambda d=d: world.pharmacy.by_date[d.isoformat()])
                                   for d in (aborted_day, terminated_day)))
            progress = await aborted.query("progress", result_type=Progress)
    finally:
        world.pharmacy.delay = 0.0
    assert "aborted by ana: pharmacy feed is wrong" in str(failed.value.cause)
    assert progress.state == "aborted"
    assert step_of(progress, "extract_pharmacy").state == "cancelled"
    assert step_of(progress, "validate_pharmacy").state == "pending"


async def test_abort_accepted_during_the_last_step_ends_the_run_aborted(dev_env, world):
    # Step 23 fails its first three attempts: it is in flight (retrying) for about 7 s.
    settings = world.variant(fault_injection="publish_run_metrics:3")
    async with running_workers(dev_env.client, settings, ActivityDeps.from_settings(settings)) as queues:
        handle = await start(dev_env.client, queues, run_date=RUN_DATE.replace(day=21))
        await wait_progress(handle, lambda p: step_of(p, "publish_run_metrics").state == "running")
        await handle.execute_update("abort", Abort(operator="ana", reason="wrong model versions"))
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        progress = await handle.query("progress", result_type=Progress)
    assert "aborted by ana: wrong model versions" in str(failed.value.cause)
    assert progress.state == "aborted" and step_of(progress, "publish_run_metrics").state == "cancelled"
    assert all(s.state == "completed" for s in progress.steps[:22])


async def test_progress_counts_every_attempt_of_a_step_that_succeeded_after_retries(dev_env, world):
    settings = world.variant(fault_injection="validate_features:2")
    async with running_workers(dev_env.client, settings, ActivityDeps.from_settings(settings)) as queues:
        result = await (await start(dev_env.client, queues, run_date=RUN_DATE.replace(day=20))).result()
    assert result.state == "completed"
    assert {s.name: s.attempts for s in result.steps if s.attempts != 1} == {"validate_features": 3}
    # Retries that end in success page nobody and resolve nothing (issue 8).
    day = str(RUN_DATE.replace(day=20))
    assert [a for a in world.inbox.received if a.get("kind") in ("step_failed", "step_resolved")
            and a.get("run_date") == day] == []


async def test_retry_step_refuses_bad_options_naming_them_then_retries_with_good_ones(dev_env, world):
    # validate_labs exhausts its three attempts and waits for an operator.
    settings = world.variant(fault_injection="validate_labs:3")
    address = target_of(dev_env.client)
    async with running_workers(dev_env.client, settings, ActivityDeps.from_settings(settings)) as queues:
        handle = await start(dev_env.client, queues, run_date=RUN_DATE.replace(day=19))
        progress = await wait_progress(handle, lambda p: step_of(p, "validate_labs").state == "awaiting_operator")
        assert step_of(progress, "validate_labs").attempts == 3

        async def retry(options: dict, check: bool):
            return await temporal("workflow", "update", "execute", "-w", handle.id, "--name", "retry_step", "--input",
                                  json.dumps({"step": "validate_labs", "operator": "ana", "reason": "x",
                                              "options": options}), address=address, check=check)

        for options, named in (({"max_invalid_ratio": "lots"}, "options.validate_labs.max_invalid_ratio: Input "
                                                                "should be a valid number"),
                               ({"max_invalid_ratio": 2}, "options.validate_labs.max_invalid_ratio: Input should be "
                                                          "less than or equal to 1"),
                               ({"max_staleness_days": 2, "page_size": 5}, "options.validate_labs.page_size: Extra "
                                                                           "inputs are not permitted")):
            refused = await retry(options, check=False)
            assert refused.returncode != 0 and named in refused.stderr, refused.stderr
        await retry({"max_invalid_ratio": 0.2}, check=True)
        result = await handle.result()
    assert result.state == "completed" and step_of(result, "validate_labs").attempts == 4
