"""Record PatientRiskPipeline histories that start a declared downstream (workflows/_downstream.py):
`python -m tests.replay.record_dependencies v3`.

"downstream-started": the run completes and starts RiskReport-<date> as an abandoned child;
"downstream-exists": a second run for the date finds it running and starts nothing.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from activities.deps import ActivityDeps
from mlwright import schedule_file, schedules
from mlwright.patient_risk import bootstrap
from mlwright.queues import QueueSet
from tests.conftest import running_workers
from tests.replay.record_histories import record_on_a_dev_server
from tests.workflows.patient_risk_world import RUN_DATE, start_services

OUT = Path(__file__).parent / "histories"


async def record_downstream(env, version: str, home: Path) -> None:
    settings, _inbox, _dials, servers = start_services(home / "hospital")
    try:
        settings = settings.model_copy(update={"task_queue_prefix": f"rec{uuid.uuid4().hex[:6]}-"})
        deps = ActivityDeps.from_settings(settings)
        declared = home / "deps.toml"
        declared.write_text('[[dependency]]\nupstream = "PatientRiskPipeline"\ndownstream = "RiskReport"\n')
        queues = QueueSet(settings.task_queue_prefix)
        await schedules.apply(env.client, schedule_file.load(declared), queues, settings.resolved_database_url)
        async with running_workers(env.client, settings, deps):
            await bootstrap.train_models(env.client, settings, patients=1000, seed=5, run_date=RUN_DATE, say=print)
            for name in ("downstream-started", "downstream-exists"):
                handle = await env.client.start_workflow("PatientRiskPipeline", {"run_date": str(RUN_DATE)},
                                                         id=f"replay-patientrisk-{name}", task_queue=queues.pipelines)
                await handle.result()
                history = await handle.fetch_history()
                path = OUT / f"{version}-patientrisk-{name}.json"
                path.write_text(history.to_json())
                print(f"wrote {path.name} ({len(history.events)} events)")
        await env.client.get_workflow_handle(f"{queues.prefix}RiskReport-{RUN_DATE}").terminate("recorded")
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    record_on_a_dev_server(record_downstream, sys.argv[1] if len(sys.argv) > 1 else "v3")
