"""Record a PatientRiskPipeline history whose features came from the offline store:
`python -m tests.replay.record_store_features v4`.

"store-features": FeaturePipeline completes for the date and starts PatientRiskPipeline-<date> by the
declared dependency; its compute_features step reads the partition (patch "features-from-feature-store").
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


async def record_store_features(env, version: str, home: Path) -> None:
    settings, _inbox, _dials, servers = start_services(home / "hospital")
    try:
        settings = settings.model_copy(update={"task_queue_prefix": f"rec{uuid.uuid4().hex[:6]}-"})
        declared = home / "deps.toml"
        declared.write_text('[[dependency]]\nupstream = "FeaturePipeline"\ndownstream = "PatientRiskPipeline"\n')
        queues = QueueSet(settings.task_queue_prefix)
        await schedules.apply(env.client, schedule_file.load(declared), queues, settings.resolved_database_url)
        async with running_workers(env.client, settings, ActivityDeps.from_settings(settings)):
            await bootstrap.train_models(env.client, settings, patients=1000, seed=5, run_date=RUN_DATE, say=print)
            upstream = await env.client.start_workflow("FeaturePipeline", {"run_date": str(RUN_DATE)},
                                                       id="replay-feature-upstream", task_queue=queues.pipelines)
            await upstream.result()
            handle = env.client.get_workflow_handle(f"{queues.prefix}PatientRiskPipeline-{RUN_DATE}")
            await handle.result()
            history = await handle.fetch_history()
        path = OUT / f"{version}-patientrisk-store-features.json"
        path.write_text(history.to_json())
        print(f"wrote {path.name} ({len(history.events)} events)")
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    record_on_a_dev_server(record_store_features, sys.argv[1] if len(sys.argv) > 1 else "v4")
