"""FeaturePipeline's one external side effect, the drift alert, survives its worker being SIGKILLed
mid-delivery: the receiver holds exactly one alert for the date (issue 7; the standard's crash test)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest

from activities.deps import ActivityDeps
from mlwright.contracts.feature_pipeline import FeaturePipelineResult
from mlwright.queues import Resource
from tests.conftest import running_workers, target_of
from tests.workflows.patient_risk_world import RUN_DATE, start_services
from tests.workflows.test_feature_pipeline import _shift_ages

DAY1, DAY2 = RUN_DATE - timedelta(days=1), RUN_DATE


def _attempts(history, activity_type: str) -> int:
    """The attempt that completed the activity, from its ActivityTaskStarted event."""
    scheduled = {e.event_id for e in history if e.HasField("activity_task_scheduled_event_attributes")
                 and e.activity_task_scheduled_event_attributes.activity_type.name == activity_type}
    (started,) = [e.activity_task_started_event_attributes for e in history
                  if e.HasField("activity_task_started_event_attributes")
                  and e.activity_task_started_event_attributes.scheduled_event_id in scheduled]
    return started.attempt


@pytest.fixture
def services(tmp_path):
    settings, inbox, dials, servers = start_services(tmp_path)
    yield settings.model_copy(update={"task_queue_prefix": f"fk{uuid.uuid4().hex[:8]}-"}), inbox, dials["alerts"]
    for server in servers:
        server.stop()


def _io_cpu_worker(settings, address: str, log) -> subprocess.Popen:
    env = {**os.environ, "MLWRIGHT_HOME": str(settings.home), "MLWRIGHT_TEMPORAL_ADDRESS": address,
           "MLWRIGHT_TASK_QUEUE_PREFIX": settings.task_queue_prefix,
           "MLWRIGHT_ALERT_ROUTES": json.dumps(settings.alert_routes), "MLWRIGHT_FHIR_URL": settings.fhir_url,
           "MLWRIGHT_PHARMACY_URL": settings.pharmacy_url, "MLWRIGHT_GRACEFUL_SHUTDOWN_S": "0",
           "MLWRIGHT_ENVIRONMENT": "test"}
    return subprocess.Popen([sys.executable, "-m", "workers", "io", "cpu"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


async def test_worker_killed_mid_drift_alert_leaves_one_alert_at_the_receiver(dev_env, services, tmp_path):
    settings, inbox, alerts_dial = services
    client, address = dev_env.client, target_of(dev_env.client)
    deps = ActivityDeps.from_settings(settings)
    async with running_workers(client, settings, deps) as queues:  # the reference date, all in-process
        await (await client.start_workflow("FeaturePipeline", {"run_date": DAY1.isoformat()}, id=f"fk-{DAY1}",
                                           task_queue=queues.pipelines)).result()
    _shift_ages(settings, 12)

    # The receiver takes 3 s per request before it accepts: the kill lands while the POST is in
    # flight, and the receiver then accepts it anyway (the "sent but not recorded as sent" case).
    alerts_dial.delay = 3.0
    workers = []
    with open(tmp_path / "workers.log", "ab") as log:
        workers.append(_io_cpu_worker(settings, address, log))
        try:
            async with running_workers(client, settings, deps, resources=[Resource.PIPELINES]) as queues:
                handle = await client.start_workflow(
                    "FeaturePipeline", {"run_date": DAY2.isoformat()}, id=f"fk-{DAY2}",
                    task_queue=queues.pipelines, result_type=FeaturePipelineResult)
                for _ in range(1200):  # wait on the real condition: the alert's POST reached the receiver
                    if alerts_dial.calls:
                        break
                    await asyncio.sleep(0.05)
                assert alerts_dial.calls == 1, "the drift alert never reached the receiver"
                workers[0].send_signal(signal.SIGKILL)
                workers[0].wait()
                alerts_dial.delay = 0.0
                workers.append(_io_cpu_worker(settings, address, log))
                result = await asyncio.wait_for(handle.result(), timeout=120)
                history = [e async for e in handle.fetch_history_events()]
        finally:
            for proc in workers:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait()

    assert result.drift_level == "critical"
    assert _attempts(history, "features_drift_alert") == 2, "the kill must land inside the alert step"
    drift_alerts = [a for a in inbox.received if a["kind"] == "feature_drift"]
    assert len(drift_alerts) == 1 and drift_alerts[0]["run_date"] == DAY2.isoformat()
    key = f"features/patient_risk/{DAY2}/drift"
    assert inbox.deliveries[key] == 2  # the lost attempt's POST and the retry's, deduplicated by the receiver
