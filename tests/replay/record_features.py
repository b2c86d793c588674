"""Record FeaturePipeline histories: `python -m tests.replay.record_features v3`.

"completed": the first run of a date (no earlier partition: drift not measured, no alert);
"drift-alerted": the next date after the sources' ages were shifted, drift critical and alerted once.
From v4 both end with the watermark step, and "drift-alerted" reads its sources incrementally.
Recorded with payloads in plaintext (see record_histories.PLAINTEXT), so the files stay readable.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from activities.deps import ActivityDeps
from mlwright.cli import exit_now
from mlwright.client import client_options
from tests.conftest import DEV_SERVER_ARGS, running_workers
from tests.helpers import venv_bin
from tests.replay.record_histories import PLAINTEXT
from tests.workflows.patient_risk_world import RUN_DATE, start_services
from tests.workflows.test_feature_pipeline import _shift_ages

OUT = Path(__file__).parent / "histories"


async def record_features(env, version: str, home: Path) -> None:
    settings, _inbox, _dials, servers = start_services(home / "hospital")
    try:
        settings = settings.model_copy(update={"task_queue_prefix": f"rec{uuid.uuid4().hex[:6]}-"})
        deps = ActivityDeps.from_settings(settings)
        async with running_workers(env.client, settings, deps) as queues:
            for name, day in (("completed", RUN_DATE - timedelta(days=1)), ("drift-alerted", RUN_DATE)):
                if name == "drift-alerted":
                    _shift_ages(settings, 12)
                handle = await env.client.start_workflow("FeaturePipeline", {"run_date": str(day)},
                                                         id=f"replay-feature-{name}", task_queue=queues.pipelines)
                result = await handle.result()
                history = await handle.fetch_history()
                path = OUT / f"{version}-feature-{name}.json"
                path.write_text(history.to_json())
                print(f"wrote {path.name} ({len(history.events)} events, drift {result['drift_level']})")  # noqa: T201 - a recorder reports what it wrote
    finally:
        for server in servers:
            server.stop()


async def main(version: str) -> None:
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=venv_bin("temporal"),
                                                dev_server_extra_args=DEV_SERVER_ARGS, **client_options(PLAINTEXT))
    try:
        await record_features(env, version, Path(tempfile.mkdtemp()))
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "v3"))
    exit_now(0)
