"""Record TrainingPipeline histories for the replay tests: `python -m tests.replay.record_histories`.

Run it when a workflow changes on purpose *and* the running histories it must stay compatible
with are recorded under a new version prefix; never overwrite histories of a released version.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import uuid
from pathlib import Path

from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.deps import ActivityDeps
from mlwright.cli import exit_now
from mlwright.client import client_options
from mlwright.contracts.training import ApprovalDecision, TrainingInput, TrainingResult, TrainingStatus
from mlwright.sample_data import write_sample
from mlwright.settings import Settings
from tests.conftest import DEV_SERVER_ARGS, running_workers
from tests.helpers import venv_bin

OUT = Path(__file__).parent / "histories"
# Recorded histories are committed and replayed by anyone: sealed with a throwaway key they could never
# be decoded again, so they are recorded in plaintext (replay accepts plaintext outside production).
PLAINTEXT = Settings(environment="test", payload_encryption=False)


async def _until_awaiting(handle) -> None:
    for _ in range(600):
        if (await handle.query("status", result_type=TrainingStatus)).awaiting_approval:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("never reached approval")


async def record(version: str) -> None:
    home = Path(tempfile.mkdtemp())
    csv = write_sample("breast_cancer", home / "state" / "data")  # the default data root
    settings = Settings(environment="test", home=home / "state", task_queue_prefix=f"rec{uuid.uuid4().hex[:6]}-",
                        graceful_shutdown_s=0)
    body = {"model_name": "bc", "dataset": {"uri": str(csv), "target": "target"},
            "estimator": {"name": "logistic_regression"}, "promotion": {"canary_duration": "1s"}}
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=venv_bin("temporal"),
                                                dev_server_extra_args=DEV_SERVER_ARGS, **client_options(PLAINTEXT))
    try:
        async with running_workers(env.client, settings, ActivityDeps.from_settings(settings)) as queues:
            async def run(name: str, payload, decide: str | None):
                handle = await env.client.start_workflow("TrainingPipeline", payload, id=f"replay-{name}",
                                                         task_queue=queues.pipelines, result_type=TrainingResult)
                if decide:
                    await _until_awaiting(handle)
                    await handle.execute_update(decide, ApprovalDecision(approver="recorder", reason=name))
                try:
                    await handle.result()
                except Exception:  # failure scenarios are recorded as they are
                    pass
                history = await handle.fetch_history()
                path = OUT / f"{version}-training-{name}.json"
                path.write_text(history.to_json())
                print(f"wrote {path.relative_to(Path.cwd())} ({len(history.events)} events)")

            await run("promoted", TrainingInput.model_validate(body), "approve")
            await run("not-improved", TrainingInput.model_validate(body), None)
            await run("rejected", TrainingInput.model_validate({**body, "model_name": "bc2"}), "reject")
            await run("quality-failed", TrainingInput.model_validate({**body, "quality": {"min_rows": 10**6}}), None)
            await run("invalid-input", {"model_name": "bc", "estimator": {"name": 5}}, None)
        await record_patient_risk(env, version, home)
    finally:
        await env.shutdown()


async def record_patient_risk(env, version: str, home: Path) -> None:
    from temporalio.client import WorkflowFailureError

    from mlwright.contracts.patient_risk import Abort, Progress, RetryStep
    from mlwright.patient_risk import bootstrap
    from tests.workflows.patient_risk_world import RUN_DATE, start_services

    settings, _inbox, _dials, servers = start_services(home / "hospital")
    try:
        base = settings.model_copy(update={"task_queue_prefix": f"rec{uuid.uuid4().hex[:6]}-"})
        async with running_workers(env.client, base, ActivityDeps.from_settings(base)):
            await bootstrap.train_models(env.client, base, patients=1000, seed=5, run_date=RUN_DATE, say=print)
        # "aborted-last-step": abort while step 23 is in flight (retrying), which cancels it.
        for name, fault in (("completed", None), ("step14-retried", "model_deterioration:3"),
                            ("aborted-last-step", "publish_run_metrics:3")):
            variant = base.model_copy(update={"task_queue_prefix": f"rec{uuid.uuid4().hex[:6]}-",
                                              "fault_injection": fault})
            async with running_workers(env.client, variant, ActivityDeps.from_settings(variant)) as queues:
                handle = await env.client.start_workflow("PatientRiskPipeline", {"run_date": str(RUN_DATE)},
                                                         id=f"replay-patientrisk-{name}", task_queue=queues.pipelines)
                wanted = ((lambda p: p.state == "awaiting_operator") if name == "step14-retried" else
                          (lambda p: p.steps[-1].state == "running"))
                if fault:
                    for _ in range(600):
                        if wanted(await handle.query("progress", result_type=Progress)):
                            break
                        await asyncio.sleep(0.1)
                if name == "step14-retried":
                    await handle.execute_update("retry_step", RetryStep(step="model_deterioration",
                                                                        operator="recorder", reason="drill"))
                elif name == "aborted-last-step":
                    await handle.execute_update("abort", Abort(operator="recorder", reason="drill"))
                try:
                    await handle.result()
                except WorkflowFailureError:
                    pass  # the aborted run is recorded as it ended
                history = await handle.fetch_history()
            path = OUT / f"{version}-patientrisk-{name}.json"
            path.write_text(history.to_json())
            print(f"wrote {path.name} ({len(history.events)} events)")
    finally:
        for server in servers:
            server.stop()


async def record_resolved_page(env, version: str, home: Path) -> None:
    """A step-14 failure resumed by retry_step on code that resolves the page (issue 8): the
    history carries the resolve-page-on-recovery marker and the second send_operator_alert."""
    from mlwright.contracts.patient_risk import Progress, RetryStep
    from mlwright.patient_risk import bootstrap
    from tests.workflows.patient_risk_world import RUN_DATE, start_services

    settings, _inbox, _dials, servers = start_services(home / "hospital")
    try:
        base = settings.model_copy(update={"task_queue_prefix": f"rec{uuid.uuid4().hex[:6]}-"})
        async with running_workers(env.client, base, ActivityDeps.from_settings(base)):
            await bootstrap.train_models(env.client, base, patients=1000, seed=5, run_date=RUN_DATE, say=print)
        variant = base.model_copy(update={"task_queue_prefix": f"rec{uuid.uuid4().hex[:6]}-",
                                          "fault_injection": "model_deterioration:3"})
        async with running_workers(env.client, variant, ActivityDeps.from_settings(variant)) as queues:
            handle = await env.client.start_workflow("PatientRiskPipeline", {"run_date": str(RUN_DATE)},
                                                     id="replay-patientrisk-step14-resolved", task_queue=queues.pipelines)
            for _ in range(600):
                if (await handle.query("progress", result_type=Progress)).state == "awaiting_operator":
                    break
                await asyncio.sleep(0.1)
            await handle.execute_update("retry_step", RetryStep(step="model_deterioration", operator="recorder",
                                                                reason="drill"))
            await handle.result()
            history = await handle.fetch_history()
        path = OUT / f"{version}-patientrisk-step14-resolved.json"
        path.write_text(history.to_json())
        print(f"wrote {path.name} ({len(history.events)} events)")
    finally:
        for server in servers:
            server.stop()


async def record_approval_policy(version: str) -> None:
    """A run under the approval policy: a refused approval, then an allowed one (issue 9)."""
    home = Path(tempfile.mkdtemp())
    csv = write_sample("breast_cancer", home / "state" / "data")
    policy = home / "policy.toml"
    policy.write_text((Path(__file__).parents[2] / "deploy" / "approval-policy.example.toml").read_text())
    settings = Settings(environment="test", home=home / "state", task_queue_prefix=f"rec{uuid.uuid4().hex[:6]}-",
                        graceful_shutdown_s=0, approval_policy_file=policy)
    body = {"model_name": "readmission-30d", "dataset": {"uri": str(csv), "target": "target"},
            "estimator": {"name": "logistic_regression"}, "promotion": {"canary_duration": "1s"},
            "requested_by": "dr.chen@example.org"}
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=venv_bin("temporal"),
                                                dev_server_extra_args=DEV_SERVER_ARGS, **client_options(PLAINTEXT))
    try:
        async with running_workers(env.client, settings, ActivityDeps.from_settings(settings)) as queues:
            handle = await env.client.start_workflow("TrainingPipeline", TrainingInput.model_validate(body),
                                                     id="replay-policy", task_queue=queues.pipelines,
                                                     result_type=TrainingResult)
            await _until_awaiting(handle)
            try:
                await handle.execute_update("approve", ApprovalDecision(approver="dr.chen@example.org"))
            except WorkflowUpdateFailedError:
                pass  # the self-approval is refused, as recorded
            await handle.execute_update("approve", ApprovalDecision(approver="ml-governance@example.org"))
            await handle.result()
            history = await handle.fetch_history()
        path = OUT / f"{version}-training-policy-refused-then-approved.json"
        path.write_text(history.to_json())
        print(f"wrote {path.name} ({len(history.events)} events)")
    finally:
        await env.shutdown()


async def record_retraining_monitor(version: str = "v3") -> None:
    """One monitor run that starts a child retrain and then continues-as-new (controls drive the cycles)."""
    from mlwright.contracts.monitor import MonitorStatus

    home = Path(tempfile.mkdtemp())
    csv = write_sample("breast_cancer", home / "state" / "data")
    settings = Settings(environment="test", home=home / "state", task_queue_prefix=f"rec{uuid.uuid4().hex[:6]}-",
                        graceful_shutdown_s=0)
    body = {"model_name": "bc", "interval": "10h", "cycles_per_run": 2, "stream": {"seed": 4, "rows_per_cycle": 400},
            "training": {"model_name": "bc", "dataset": {"uri": str(csv), "target": "target"},
                         "estimator": {"name": "logistic_regression"}}}
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=venv_bin("temporal"),
                                                dev_server_extra_args=DEV_SERVER_ARGS, **client_options(PLAINTEXT))
    try:
        async with running_workers(env.client, settings, ActivityDeps.from_settings(settings)) as queues:
            handle = await env.client.start_workflow("RetrainingMonitor", body, id="monitor-bc",
                                                     task_queue=queues.pipelines)
            first_run = (await handle.describe()).run_id
            await handle.execute_update("trigger_now", {"reason": "record"}, result_type=MonitorStatus)
            await handle.execute_update("update_thresholds", {"min_roc_auc": 0.99})
            await handle.execute_update("trigger_now", {"reason": "record degraded"}, result_type=MonitorStatus)
            for _ in range(600):  # the run continues-as-new after its second cycle
                if (await handle.describe()).run_id != first_run:
                    break
                await asyncio.sleep(0.1)
            history = await env.client.get_workflow_handle("monitor-bc", run_id=first_run).fetch_history()
            path = OUT / f"{version}-retrainingmonitor-child-and-continue-as-new.json"
            path.write_text(history.to_json())
            print(f"wrote {path.name} ({len(history.events)} events)")
            await handle.terminate("recorded")
    finally:
        await env.shutdown()


async def record_monitor_child_across_continue_as_new(version: str = "v3") -> None:
    """The run *after* a continue-as-new that carried a running child: it polls the child (approved
    meanwhile), records the outcome and starts no other. The earlier run is not written again."""
    from mlwright.contracts.monitor import MonitorStatus

    home = Path(tempfile.mkdtemp())
    csv = write_sample("breast_cancer", home / "state" / "data")
    settings = Settings(environment="test", home=home / "state", task_queue_prefix=f"rec{uuid.uuid4().hex[:6]}-",
                        graceful_shutdown_s=0)
    body = {"model_name": "bc", "interval": "10h", "cycles_per_run": 2, "cooldown": "1000h",
            "stream": {"seed": 3, "rows_per_cycle": 400, "drift_from_cycle": 2},
            "training": {"model_name": "bc", "dataset": {"uri": str(csv), "target": "target"},
                         "estimator": {"name": "logistic_regression"}, "promotion": {"canary_duration": "1s"}}}
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=venv_bin("temporal"),
                                                dev_server_extra_args=DEV_SERVER_ARGS, **client_options(PLAINTEXT))
    try:
        async with running_workers(env.client, settings, ActivityDeps.from_settings(settings)) as queues:
            handle = await env.client.start_workflow("RetrainingMonitor", body, id="monitor-bc",
                                                     task_queue=queues.pipelines)
            first_run = (await handle.describe()).run_id
            await handle.execute_update("trigger_now", {"reason": "record"}, result_type=MonitorStatus)
            await handle.execute_update("trigger_now", {"reason": "record drift"}, result_type=MonitorStatus)
            for _ in range(600):
                second_run = (await handle.describe()).run_id
                if second_run != first_run:
                    break
                await asyncio.sleep(0.1)
            child = env.client.get_workflow_handle("monitor-bc/retrain-2", result_type=TrainingResult)
            await _until_awaiting(child)
            await child.execute_update("approve", ApprovalDecision(approver="recorder", reason="child across CAN"))
            await child.result()
            status = await handle.execute_update("trigger_now", {"reason": "record outcome"},
                                                 result_type=MonitorStatus)
            assert status.children[-1].outcome == "promoted" and status.child is None, status
            history = await env.client.get_workflow_handle("monitor-bc", run_id=second_run).fetch_history()
            path = OUT / f"{version}-retrainingmonitor-child-tracked-after-continue-as-new.json"
            path.write_text(history.to_json())
            print(f"wrote {path.name} ({len(history.events)} events)")
            await handle.terminate("recorded")
    finally:
        await env.shutdown()



async def record_refused_inputs(env, version: str, home: Path) -> None:
    """A run of each dated or trained pipeline whose input is refused: the run still publishes its
    pipeline and its failed state (search attributes behind the visibility marker)."""
    settings = Settings(environment="test", home=home / "state", task_queue_prefix=f"rec{uuid.uuid4().hex[:6]}-",
                        graceful_shutdown_s=0)
    runs = {"training": ("TrainingPipeline", {"model_name": "bc", "estimator": {"name": 5}}),
            "patientrisk": ("PatientRiskPipeline", {"run_date": "2026-13-40"}),
            "feature": ("FeaturePipeline", {"run_date": "2026-13-40"})}
    async with running_workers(env.client, settings, ActivityDeps.from_settings(settings)) as queues:
        for name, (workflow_type, payload) in runs.items():
            handle = await env.client.start_workflow(workflow_type, payload, id=f"replay-{name}-input-refused",
                                                     task_queue=queues.pipelines)
            with contextlib.suppress(WorkflowFailureError):
                await handle.result()
            history = await handle.fetch_history()
            path = OUT / f"{version}-{name}-input-refused.json"
            path.write_text(history.to_json())
            print(f"wrote {path.relative_to(Path.cwd())} ({len(history.events)} events)")


def record_on_a_dev_server(record, version: str) -> None:
    """A recorder's entry point: ``record(env, version, workdir)`` on a fresh dev server whose
    client writes plaintext histories (see PLAINTEXT); the process then exits at once."""
    async def main() -> None:
        env = await WorkflowEnvironment.start_local(dev_server_existing_path=venv_bin("temporal"),
                                                    dev_server_extra_args=DEV_SERVER_ARGS, **client_options(PLAINTEXT))
        try:
            await record(env, version, Path(tempfile.mkdtemp()))
        finally:
            await env.shutdown()

    asyncio.run(main())
    exit_now(0)

if __name__ == "__main__":
    if sys.argv[2:] == ["--only-monitor-child-across-continue-as-new"]:
        asyncio.run(record_monitor_child_across_continue_as_new(sys.argv[1]))
        exit_now(0)
    if sys.argv[2:] == ["--only-resolved-page"]:
        async def resolved() -> None:
            env = await WorkflowEnvironment.start_local(dev_server_existing_path=venv_bin("temporal"),
                                                        dev_server_extra_args=DEV_SERVER_ARGS, **client_options(PLAINTEXT))
            try:
                await record_resolved_page(env, sys.argv[1], Path(tempfile.mkdtemp()))
            finally:
                await env.shutdown()
        asyncio.run(resolved())
        exit_now(0)
    if sys.argv[2:] == ["--only-approval-policy"]:
        asyncio.run(record_approval_policy(sys.argv[1]))
        exit_now(0)
    if sys.argv[2:] == ["--only-refused-inputs"]:
        record_on_a_dev_server(record_refused_inputs, sys.argv[1])
    if sys.argv[2:] == ["--only-retraining-monitor"]:
        asyncio.run(record_retraining_monitor(sys.argv[1]))
    elif sys.argv[2:] == ["--only-patient-risk"]:
        record_on_a_dev_server(record_patient_risk, sys.argv[1])
    else:
        asyncio.run(record(sys.argv[1] if len(sys.argv) > 1 else "v1"))
    exit_now(0)
