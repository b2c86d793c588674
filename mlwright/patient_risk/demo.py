"""`mlwright patient-risk demo`: seed the sources, train the models if needed, run the pipeline."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import date
from pathlib import Path

from temporalio.client import Client

from mlwright.contracts.patient_risk import PatientRiskInput, PatientRiskResult
from mlwright.demo import shown_path
from mlwright.patient_risk import bootstrap
from mlwright.queues import QueueSet
from mlwright.settings import Settings
from mlwright.store import registry
from mlwright.store.db import open_store, session_scope


def models_ready(settings: Settings) -> bool:
    engine = open_store(settings.resolved_database_url)
    with session_scope(engine) as session:
        ready = all(registry.version_in_stage(session, model_name=n, stage="production")
                    for n in ("readmission-risk", "deterioration-risk", "acuity-risk"))
    engine.dispose()
    return ready


async def run_demo(client: Client, settings: Settings, patients: int, seed: int, run_date: date, say) -> None:
    counts = bootstrap.seed_sources(settings, patients, seed, run_date)
    say(f"seeded four source systems under {settings.resolved_sources_root}: {counts}")
    if not models_ready(settings):
        say("training the three chained models through TrainingPipeline (approved by the demo):")
        await bootstrap.train_models(client, settings, patients=max(patients, 5000), seed=seed, run_date=run_date,
                                     say=say)
    workflow_id = f"patient-risk-{run_date}-{uuid.uuid4().hex[:6]}"
    queues = QueueSet(settings.task_queue_prefix)
    handle = await client.start_workflow("PatientRiskPipeline", PatientRiskInput(run_date=run_date),
                                         id=workflow_id, task_queue=queues.pipelines, result_type=PatientRiskResult)
    say(f"started PatientRiskPipeline {workflow_id}: {settings.run_url(workflow_id, handle.result_run_id)}")
    result = await handle.result()
    say(f"\n{result.state.upper()}: {result.patients} patients scored for {result.run_date}; tiers {result.tiers}; "
        f"{result.alerts_sent} high-risk alerts sent; models {result.model_versions}")
    say("steps: " + ", ".join(f"{s.number}.{s.name} {s.duration_s:.2f}s" for s in result.steps if s.duration_s))
    addr = f"--address {settings.temporal_address} --namespace {settings.temporal_namespace}"
    say(f"\nWeb UI: {settings.run_url(workflow_id)}")
    mlwright = shown_path(str(Path(sys.executable).with_name("mlwright")))
    say(f"Its trace: {mlwright} trace {workflow_id}")
    say(f"Runs waiting on on-call: {mlwright} runs --state awaiting_operator")
    say(f"Alerts received by the dev inbox: {settings.home.resolve() / 'logs' / 'alerts.jsonl'}")
    say("Try the failure drill (README, Runbook): restart the workers with "
        "MLWRIGHT_FAULT_INJECTION=model_deterioration, then")
    say(f"  temporal workflow start {addr} --type PatientRiskPipeline --task-queue {queues.pipelines} "
        f"--workflow-id drill-1 --input '{json.dumps({'run_date': str(run_date)})}'")
    say(f"  temporal workflow query {addr} -w drill-1 --type progress")
