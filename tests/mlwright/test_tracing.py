"""One run, one trace, however it was started: the real `temporal` CLI, mlwright's client, a parent."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid

import pytest
from opentelemetry.trace import StatusCode
from temporalio.client import WorkflowFailureError

from mlwright import telemetry, visibility
from mlwright.contracts.training import ApprovalDecision, TrainingInput, TrainingResult
from mlwright.span_store import SpanStore, SpanStoreExporter
from tests.conftest import running_workers, target_of
from tests.e2e.temporal_cli import temporal
from tests.tracing_helpers import ancestors, collected_spans, hex_id, of_workflow
from tests.workflows.waiting import wait_for_status


async def scheduled_steps(handle) -> list[str]:
    """Activity types the run's history scheduled, in order: what its trace must show."""
    history = await handle.fetch_history()
    return [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")]


def body(csv, **extra) -> dict:
    return {"model_name": f"bc{uuid.uuid4().hex[:6]}", "dataset": {"uri": str(csv), "target": "target"},
            "estimator": {"name": "logistic_regression"}, "promotion": {"canary_duration": "1s"}, **extra}


async def memo_trace_id(handle) -> str:
    return (await (await handle.describe()).memo())[visibility.TRACE_MEMO]


async def test_a_cli_started_run_is_one_trace_from_workflow_to_last_activity(dev_env, settings, deps,
                                                                             breast_cancer_csv, tmp_path):
    store = SpanStore(tmp_path / "traces.db")
    wid, inp = f"trace-cli-{uuid.uuid4()}", body(breast_cancer_csv)
    with collected_spans(SpanStoreExporter(store)) as spans:
        async with running_workers(dev_env.client, settings, deps) as queues:
            await temporal("workflow", "start", "--type", "TrainingPipeline", "--task-queue", queues.pipelines,
                           "--workflow-id", wid, "--input", json.dumps(inp),
                           address=target_of(dev_env.client))
            handle = dev_env.client.get_workflow_handle(wid, result_type=TrainingResult)
            await wait_for_status(handle, lambda s: s.awaiting_approval)
        # Those workers are gone: new ones must rebuild the run from its history, trace ids included.
        async with running_workers(dev_env.client, settings, deps):
            await handle.execute_update("approve", ApprovalDecision(approver="alice"))
            result = await handle.result()
    assert result.decision == "promoted"
    run = of_workflow(spans.get_finished_spans(), wid)
    [root] = [s for s in run if s.name == "RunWorkflow:TrainingPipeline"]  # exported once, by the last worker
    assert root.parent is None  # the CLI sent no trace context: the worker's workflow span is the root
    # Queries and updates belong to their caller's trace (here the test's client), not the run's.
    # So does the audit row an approval writes (record_approval_decision runs inside the approver's
    # update handler): it is the approver's request, and a refused one must be traceable to them.
    audit = "record_approval_decision"
    callers = {s.name.split(":")[0] for s in run if s.context.trace_id != root.context.trace_id
               and not s.name.endswith(f":{audit}")}
    assert callers <= {"QueryWorkflow", "HandleQuery", "StartWorkflowUpdate", "ValidateUpdate", "HandleUpdate"}
    run = [s for s in run if s.context.trace_id == root.context.trace_id]
    assert await memo_trace_id(handle) == hex_id(root.context.trace_id)  # the run names its trace

    activities = [s for s in run if s.name.startswith("RunActivity:")]
    steps = [step for step in await scheduled_steps(handle) if step != audit]
    assert len(steps) >= 10 and {s.name for s in activities} == {f"RunActivity:{step}" for step in steps}
    last = max(activities, key=lambda s: s.start_time)
    assert last.name == f"RunActivity:{steps[-1]}"  # to the very last activity
    for span in activities:  # workflow span -> scheduling span -> activity attempt
        assert ancestors(span, run)[-2:] == [f"StartActivity:{span.name.split(':')[1]}", root.name]
        assert span.attributes["mlwright.attempt"] == 1
        assert span.attributes["mlwright.queue"].startswith(settings.task_queue_prefix)
        assert span.status.status_code is not StatusCode.ERROR
    assert root.end_time - root.start_time >= last.end_time - activities[0].start_time  # real duration
    train = next(s for s in activities if s.name == "RunActivity:train_model")
    phases = [s.name for s in run if s.parent and s.parent.span_id == train.context.span_id]
    assert phases[0] == "phase:load" and phases[-1] == "phase:store"  # the step's own phases, in order
    registered = next(s for s in activities if s.name == "RunActivity:register_model_version")
    assert registered.attributes["mlwright.in.model_name"] == inp["model_name"]
    assert registered.attributes["mlwright.out.version"] == 1

    # The same run from the span store, drawn by `mlwright trace` in another process.
    env = {**os.environ, "MLWRIGHT_HOME": str(settings.home), "MLWRIGHT_TRACE_STORE_PATH": str(store.path),
           "MLWRIGHT_TEMPORAL_ADDRESS": target_of(dev_env.client)}
    shown = subprocess.run([sys.executable, "-m", "mlwright.cli", "trace", wid], env=env, capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert hex_id(root.context.trace_id) in shown.stdout
    for step in steps:
        assert step in shown.stdout


async def test_a_retried_activity_shows_each_attempt_and_the_failed_one_is_an_error(dev_env, settings, deps,
                                                                                   breast_cancer_csv):
    faulty = settings.model_copy(update={"fault_injection": "validate_data_quality:1"})
    with collected_spans() as spans:
        async with running_workers(dev_env.client, faulty, deps) as queues:
            handle = await dev_env.client.start_workflow(
                "TrainingPipeline", TrainingInput.model_validate(body(breast_cancer_csv, quality={"min_rows": 10**6})),
                id=f"trace-retry-{uuid.uuid4()}", task_queue=queues.pipelines, result_type=TrainingResult)
            with pytest.raises(WorkflowFailureError):  # the quality gate fails the run by design
                await handle.result()
    run = of_workflow(spans.get_finished_spans(), handle.id)
    attempts = sorted((s for s in run if s.name == "RunActivity:validate_data_quality"),
                      key=lambda s: s.attributes["mlwright.attempt"])
    assert [s.attributes["mlwright.attempt"] for s in attempts] == [1, 2]
    assert attempts[0].status.status_code is StatusCode.ERROR
    assert attempts[0].attributes["mlwright.error_type"] == "InjectedFault"
    # Attempt 2 failed too, on purpose (the gate), and says so; both hang off one scheduling span.
    assert attempts[1].status.status_code is StatusCode.ERROR
    assert attempts[0].parent.span_id == attempts[1].parent.span_id
    assert len({s.context.trace_id for s in run}) == 1
    client_span = next(s for s in run if s.name == "StartWorkflow:TrainingPipeline")
    assert ancestors(attempts[1], run)[-1] == client_span.name  # mlwright's client starts the trace


async def test_a_child_workflow_continues_its_parents_trace(dev_env, settings, deps, breast_cancer_csv):
    from temporalio.worker import Worker

    from tests.mlwright.tracing_parent import TracingParent

    wid = f"trace-parent-{uuid.uuid4()}"
    inp = body(breast_cancer_csv, quality={"min_rows": 10**6})  # the child fails fast at its quality gate
    with collected_spans() as spans:
        async with running_workers(dev_env.client, settings, deps) as queues:
            parents = f"{settings.task_queue_prefix}parents"
            async with Worker(dev_env.client, task_queue=parents, workflows=[TracingParent]):
                await temporal("workflow", "start", "--type", "TracingParent", "--task-queue", parents,
                               "--workflow-id", wid, "--input", json.dumps(inp), "--input",
                               json.dumps(queues.pipelines), address=target_of(dev_env.client))
                assert await dev_env.client.get_workflow_handle(wid).result() == "child failed"
    finished = spans.get_finished_spans()
    run = list({s.context.span_id: s for s in of_workflow(finished, wid) + of_workflow(finished, f"{wid}-child")
                }.values())
    [parent] = [s for s in run if s.name == "RunWorkflow:TracingParent"]
    [child] = [s for s in run if s.name == "RunWorkflow:TrainingPipeline"]
    assert parent.parent is None and {s.context.trace_id for s in run} == {parent.context.trace_id}
    assert ancestors(child, run) == ["StartChildWorkflow:TrainingPipeline", "RunWorkflow:TracingParent"]
    gate = next(s for s in run if s.name == "RunActivity:validate_data_quality")
    assert ancestors(gate, run)[-3:] == [child.name, "StartChildWorkflow:TrainingPipeline", parent.name]
    assert child.status.status_code is StatusCode.ERROR  # the failed child run says so


async def test_a_schedule_started_run_is_one_trace(dev_env, settings, deps, breast_cancer_csv):
    sid = f"trace-schedule-{uuid.uuid4().hex[:8]}"
    inp = body(breast_cancer_csv, quality={"min_rows": 10**6})
    address = target_of(dev_env.client)
    with collected_spans() as spans:
        async with running_workers(dev_env.client, settings, deps) as queues:
            await temporal("schedule", "create", "--schedule-id", sid, "--interval", "24h", "--type",
                           "TrainingPipeline", "--task-queue", queues.pipelines, "--workflow-id", sid,
                           "--input", json.dumps(inp), address=address)
            try:
                await temporal("schedule", "trigger", "--schedule-id", sid, address=address)
                schedule = dev_env.client.get_schedule_handle(sid)
                for _ in range(300):  # the schedule starts the run asynchronously
                    actions = (await schedule.describe()).info.recent_actions
                    if actions:
                        break
                    await asyncio.sleep(0.1)
                handle = dev_env.client.get_workflow_handle(actions[0].action.workflow_id)
                with pytest.raises(WorkflowFailureError):  # the quality gate fails the run by design
                    await handle.result()
            finally:
                await temporal("schedule", "delete", "--schedule-id", sid, address=address)
    run = of_workflow(spans.get_finished_spans(), handle.id)
    [root] = [s for s in run if s.name == "RunWorkflow:TrainingPipeline"]
    assert root.parent is None and {s.context.trace_id for s in run} == {root.context.trace_id}
    assert {"RunActivity:extract_dataset", "RunActivity:validate_data_quality"} <= {s.name for s in run}
    assert await memo_trace_id(handle) == hex_id(root.context.trace_id)


def test_only_the_detach_traceback_of_an_evicted_run_is_dropped_from_the_log():
    import logging

    def record(error: BaseException) -> logging.LogRecord:
        return logging.LogRecord("opentelemetry.context", logging.ERROR, __file__, 1, "Failed to detach context",
                                 None, (type(error), error, None))

    evicted = ValueError("token was created in a different Context")
    evicted.__context__ = GeneratorExit()
    drop = telemetry._EVICTED_RUN_FILTER
    assert not drop.filter(record(evicted))
    assert drop.filter(record(ValueError("token was created in a different Context")))
    assert drop.filter(record(RuntimeError("anything else")))


def test_the_process_provider_hands_out_one_tracer_per_module_and_its_spans_still_export():
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from temporalio.contrib.opentelemetry import ReplaySafeTracerProvider, create_tracer_provider

    from mlwright.telemetry import _TracerPerModule

    provider = _TracerPerModule(create_tracer_provider())
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert isinstance(provider, ReplaySafeTracerProvider)  # what the workflow interceptor insists on
    first = provider.get_tracer("mlwright.a")
    assert provider.get_tracer("mlwright.a") is first and provider.get_tracer("mlwright.b") is not first
    with first.start_as_current_span("one"):
        pass
    assert [s.name for s in exporter.get_finished_spans()] == ["one"]
