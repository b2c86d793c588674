"""`mlwright demo`: one TrainingPipeline on a real dataset, approved, with the outcome explained."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import Client

from mlwright.contracts.training import ApprovalDecision, TrainingInput, TrainingResult, TrainingStatus
from mlwright.devstack import temporal_binary
from mlwright.queues import QueueSet
from mlwright.sample_data import write_sample
from mlwright.settings import Settings

MODEL_NAME = "breast-cancer"


def demo_input(settings: Settings, estimator: str) -> TrainingInput:
    path = write_sample("breast_cancer", settings.home.resolve() / "data")
    return TrainingInput.model_validate({
        "model_name": MODEL_NAME,
        "dataset": {"uri": str(path), "target": "target"},
        "estimator": {"name": estimator},
        "promotion": {"canary_duration": "5s", "approval_timeout": "1h"},
    })


async def run_demo(client: Client, settings: Settings, estimator: str, say) -> TrainingResult:
    inp = demo_input(settings, estimator)
    workflow_id = f"demo-training-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    handle = await client.start_workflow("TrainingPipeline", inp, id=workflow_id,
                                         task_queue=QueueSet(settings.task_queue_prefix).pipelines,
                                         result_type=TrainingResult)
    say(f"started TrainingPipeline {workflow_id} on {inp.dataset.uri}")
    say(f"  watch it: {settings.run_url(workflow_id, handle.result_run_id)}")
    result_task = asyncio.ensure_future(handle.result())
    while not result_task.done():
        status = await handle.query("status", result_type=TrainingStatus)
        if status.awaiting_approval:
            say(f"  candidate v{status.candidate_version} {status.metric}="
                f"{status.candidate_metrics.get(status.metric or '', float('nan')):.4f} awaits approval; approving")
            await handle.execute_update("approve", ApprovalDecision(approver=getpass.getuser(), reason="mlwright demo"))
            break
        await asyncio.wait({result_task}, timeout=0.5)
    result = await result_task
    _report(result, workflow_id, settings, inp, say)
    return result


def _report(result: TrainingResult, workflow_id: str, settings: Settings, inp: TrainingInput, say) -> None:
    say("")
    say(f"decision: {result.decision.upper()}  (by {result.decided_by}: {result.reason})")
    say(f"model:    {result.model_name} v{result.version if result.version is not None else '-'} "
        f"({result.task}, {inp.estimator.name})")
    for name, value in sorted(result.metrics.items()):
        incumbent = result.production_metrics.get(name)
        versus = f"   production v{result.production_version}: {incumbent:.4f}" if incumbent is not None else ""
        say(f"  {name:<10} {value:.4f}{versus}")
    say("steps (seconds): " + ", ".join(f"{k} {v:.2f}" for k, v in result.step_durations.items()))
    say("")
    say(f"Web UI of this run: {settings.run_url(workflow_id)}")
    addr = f"--address {settings.temporal_address} --namespace {settings.temporal_namespace}"
    temporal = shown_path(temporal_binary())
    start_input = json.dumps({"model_name": MODEL_NAME, "dataset": {"uri": inp.dataset.uri, "target": "target"},
                              "estimator": {"name": "gradient_boosting"}})
    say("Try next:")
    say(f"  {temporal} workflow show {addr} -w {workflow_id}")
    say(f"  {temporal} workflow query {addr} -w {workflow_id} --type status")
    say(f"  {temporal} workflow start {addr} --type TrainingPipeline --task-queue "
        f"{QueueSet(settings.task_queue_prefix).pipelines} --workflow-id my-run --input '{start_input}'")
    say(f"  {temporal} workflow update execute {addr} -w my-run --name approve "
        "--input '{\"approver\": \"you\", \"reason\": \"looks good\"}'")
    mlwright = shown_path(str(Path(sys.executable).with_name("mlwright")))
    say(f"  {mlwright} registry {MODEL_NAME}")
    say(f"  {mlwright} trace {workflow_id}            # the run as one waterfall of spans")
    say(f"  {mlwright} runs --state awaiting_approval   # every run waiting for a person")


def shown_path(binary: str) -> str:
    """A binary as a person would type it here: relative when under the working directory."""
    path = Path(binary)
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)
