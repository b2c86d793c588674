"""Record FeaturePipeline histories: `python -m tests.replay.record_features v3`.

"completed": the first run of a date (no earlier partition: drift not measured, no alert);
"drift-alerted": the next date after the sources' ages were shifted, drift critical and alerted once.
From v4 both end with the watermark step, and "drift-alerted" reads its sources incrementally.
Recorded with payloads in plaintext (see record_histories.PLAINTEXT), so the files stay readable.
"""

from __future__ import annotations

import sys
import uuid
from datetime import timedelta
from pathlib import Path

from activities.deps import ActivityDeps
from tests.conftest import running_workers
from tests.replay.record_histories import record_on_a_dev_server
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


if __name__ == "__main__":
    record_on_a_dev_server(record_features, sys.argv[1] if len(sys.argv) > 1 else "v3")
