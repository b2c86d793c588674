"""Record TrainingPipeline histories for the replay tests: `python -m tests.replay.record_histories`.

Run it when a workflow changes on purpose *and* the running histories it must stay compatible
with are recorded under a new version prefix; never overwrite histories of a released version.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from pathlib import Path

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


async def _until_awaiting(handle) -> None:
    for _ in range(600):
        if (await handle.query("status", result_type=TrainingStatus)).awaiting_approval:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("never reached approval")


async def record(version: str) -> None:
    home = Path(tempfile.mkdtemp())
    csv = write_sample("breast_cancer", home / "data")
    settings = Settings(environment="test", home=home / "state", task_queue_prefix=f"rec{uuid.uuid4().hex[:6]}-",
                        graceful_shutdown_s=0)
    body = {"model_name": "bc", "dataset": {"uri": str(csv), "target": "target"},
            "estimator": {"name": "logistic_regression"}, "promotion": {"canary_duration": "1s"}}
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=venv_bin("temporal"),
                                                dev_server_extra_args=DEV_SERVER_ARGS, **client_options())
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
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1] if len(sys.argv) > 1 else "v1"))
    exit_now(0)
