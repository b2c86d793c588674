"""A real worker process serves the SDK's and mlwright's metrics at /metrics; the dashboard reads them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError

from mlwright.contracts.training import ApprovalDecision, TrainingInput, TrainingResult
from mlwright.devstack import DevStack
from mlwright.metrics import port_for
from mlwright.queues import QueueSet, Resource
from tests.conftest import target_of
from tests.helpers import free_port
from tests.workflows.waiting import wait_for_status

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "dashboards" / "mlwright.json"
_METRIC = re.compile(r"\b((?:temporal|mlwright)_[a-z_]+)\b")
_PROM_SUFFIXES = ("_bucket", "_count", "_sum")


def body(csv, **extra) -> dict:
    return {"model_name": f"bc{uuid.uuid4().hex[:6]}", "dataset": {"uri": str(csv), "target": "target"},
            "estimator": {"name": "logistic_regression"}, "promotion": {"canary_duration": "1s"}, **extra}


def scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            return reply.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None


def exported_names(text: str) -> set[str]:
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    return names | {n.removesuffix(s) for n in names for s in _PROM_SUFFIXES if n.endswith(s)}


def samples(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
async def metrics_of_a_real_worker(dev_env, settings, breast_cancer_csv, tmp_path):
    """/metrics of one worker process serving every resource class, after a run that was retried,
    approved and completed and a run that failed."""
    port = free_port()
    env = {**os.environ, "MLWRIGHT_ENVIRONMENT": "test", "MLWRIGHT_HOME": str(settings.home),
           "MLWRIGHT_TASK_QUEUE_PREFIX": settings.task_queue_prefix, "MLWRIGHT_METRICS_PORT": str(port),
           "MLWRIGHT_TEMPORAL_ADDRESS": target_of(dev_env.client), "MLWRIGHT_GRACEFUL_SHUTDOWN_S": "0",
           "MLWRIGHT_FAULT_INJECTION": "validate_data_quality:1", "MLWRIGHT_TRACE_STORE": "false"}
    queues = QueueSet(settings.task_queue_prefix)
    with open(tmp_path / "worker.log", "ab") as log:
        worker = subprocess.Popen([sys.executable, "-m", "workers", *(r.value for r in Resource)], env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        ok = await dev_env.client.start_workflow(
            "TrainingPipeline", TrainingInput.model_validate(body(breast_cancer_csv)), id=f"metrics-{uuid.uuid4()}",
            task_queue=queues.pipelines, result_type=TrainingResult)
        await wait_for_status(ok, lambda s: s.awaiting_approval, timeout_s=90)
        await ok.execute_update("approve", ApprovalDecision(approver="alice"))
        await ok.result()
        failing = await dev_env.client.start_workflow(
            "TrainingPipeline", TrainingInput.model_validate(body(breast_cancer_csv, quality={"min_rows": 10**6})),
            id=f"metrics-fail-{uuid.uuid4()}", task_queue=queues.pipelines, result_type=TrainingResult)
        with pytest.raises(WorkflowFailureError):
            await failing.result()
        # The SDK counts a workflow's completion when its last task is answered, just after the
        # client sees the result: wait for the counters, not for time.
        for _ in range(200):
            text = scrape(port)
            if text and "temporal_workflow_failed" in text and "temporal_workflow_completed" in text:
                yield text
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"no workflow counters at :{port}/metrics:\n{text}")
    finally:
        worker.terminate()
        worker.wait(timeout=30)


async def test_a_worker_exports_sdk_and_mlwright_metrics_and_the_dashboard_reads_only_those(
        metrics_of_a_real_worker):
    text = metrics_of_a_real_worker
    assert samples(text, "temporal_workflow_completed", workflow_type="TrainingPipeline") >= 1
    assert samples(text, "temporal_workflow_failed", workflow_type="TrainingPipeline") >= 1
    assert samples(text, "mlwright_step_retries", step="validate_data_quality") >= 1
    assert samples(text, "mlwright_step_attempts", step="validate_data_quality", outcome="failed") >= 2
    assert samples(text, "mlwright_step_duration_count", step="train_model", outcome="completed") == 1
    assert samples(text, "mlwright_rows_processed") > 0
    assert samples(text, "mlwright_operator_actions", action="approve", pipeline="TrainingPipeline") == 1
    assert "temporal_worker_task_slots_available" in text

    dashboard = json.loads(DASHBOARD.read_text())
    exported = exported_names(text)
    titles = set()
    for panel in dashboard["panels"]:
        exprs = [t["expr"] for t in panel.get("targets", [])]
        assert exprs, f"panel {panel['title']!r} has no query"
        titles.add(panel["title"])
        for expr in exprs:
            named = set(_METRIC.findall(expr))
            assert named, f"{panel['title']!r}: {expr!r} names no metric"
            assert named <= exported, f"{panel['title']!r} reads {named - exported}, which the worker does not export"
    assert {"Run success rate", "Step p95 duration", "Task-queue backlog (schedule-to-start p95)",
            "Worker slots used"} <= titles


def test_each_worker_process_of_one_home_gets_its_own_metrics_port(settings):
    stack = DevStack(settings.model_copy(update={"metrics_port": 9464}))
    ports = [stack.worker_env(i)["MLWRIGHT_METRICS_PORT"] for i, _ in enumerate(Resource)]
    assert ports == [str(port_for(9464, i)) for i in range(len(Resource))] == ["9464", "9465", "9466", "9467"]
    assert DevStack(settings).worker_env(0) == {}  # metrics off: nothing set
