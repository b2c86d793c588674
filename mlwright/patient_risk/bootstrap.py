"""Seed the source systems and train the three chained models through TrainingPipeline.

The models learn from a *historical* population (another seed of the same generative model, with
its outcomes), so the nightly run scores patients the models have never seen. Model 2 trains on
model 1's predictions and model 3 on both, exactly as the pipeline chains them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
from temporalio.client import Client

from mlwright import serving
from mlwright.contracts.patient_risk import ModelNames
from mlwright.contracts.training import ApprovalDecision, TrainingInput, TrainingResult, TrainingStatus
from mlwright.patient_risk import features, sources, synthetic, validation
from mlwright.queues import QueueSet
from mlwright.settings import Settings
from mlwright.store.artifacts import ArtifactStore
from mlwright.store.db import open_store

CHAIN = (("readmission", "readmission_30d"), ("deterioration", "deterioration"), ("acuity", "high_acuity"))


def seed_sources(settings: Settings, patients: int, seed: int, run_date: date) -> dict[str, int]:
    where = sources.SourceLocations.under(settings.resolved_sources_root, settings.ehr_url)
    return sources.seed(synthetic.generate(patients, seed, run_date), where)


def feature_frame(population: synthetic.Population, run_date: date) -> pd.DataFrame:
    """Features of a generated population through the same validation and feature code as the pipeline."""
    labs = population.labs.assign(file_date=population.labs["file_date"].astype(str))
    ehr, _ = validation.validate_ehr({"patients": population.patients, "encounters": population.encounters,
                                      "diagnoses": population.diagnoses}, run_date, {"max_staleness_days": 10**6})
    clean_labs, _ = validation.validate_labs(labs, run_date, {"max_staleness_days": 10**6})
    claims, _ = validation.validate_claims(population.claims, run_date, {"max_staleness_days": 10**6})
    fills, _ = validation.validate_pharmacy(population.fills, run_date, {"max_staleness_days": 10**6})
    return features.compute_features(ehr["patients"], ehr["encounters"], ehr["diagnoses"], clean_labs, claims,
                                     fills, run_date)


async def train_models(client: Client, settings: Settings, patients: int, seed: int, run_date: date,
                       say: Callable[[str], None], models: ModelNames | None = None,
                       queues: QueueSet | None = None) -> dict[str, TrainingResult]:
    models = models or ModelNames()
    history = synthetic.generate(patients, seed + 1_000_003, run_date)
    table = feature_frame(history, run_date)
    outcomes = history.outcomes.set_index("patient_id")
    data_dir = settings.home.resolve() / "data" / "training"  # inside the default data root
    data_dir.mkdir(parents=True, exist_ok=True)
    queues = queues or QueueSet(settings.task_queue_prefix)
    results: dict[str, TrainingResult] = {}
    for column, outcome in CHAIN:
        name = getattr(models, column)
        path = data_dir / f"{name}.parquet"
        table.assign(**{outcome: outcomes.loc[table.index, outcome]}).to_parquet(path)
        results[column] = await _train(client, queues, name, path, outcome, say)
        table[column] = _predict(settings, name, table)  # the next model's input, as in the pipeline
    return results


def training_body(name: str, dataset: dict, **promotion) -> dict:
    """TrainingPipeline input of one of the chained models (JSON-ready: also a monitor's retrain)."""
    return {"model_name": name, "dataset": dataset, "task": "classification",
            "estimator": {"name": "logistic_regression", "params": {"C": 0.5}},
            "quality": {"max_null_ratio": 0.95, "min_class_ratio": 0.01},
            "promotion": {"metric": "roc_auc", "canary_duration": "1s", "approval_timeout": "1h", **promotion}}


def retrain_body(name: str, models: ModelNames | None = None) -> dict | None:
    """A monitor's retrain of chained model ``name`` on the table ``train_models`` wrote, named by
    data root (``local`` = <home>/data) so the input holds no machine's paths; None for other names.

    ``min_improvement`` 0: the monitor retrains because production degraded on live data; on these
    historical test rows the candidate need only not be worse (a person still approves it)."""
    models = models or ModelNames()
    for column, outcome in CHAIN:
        if getattr(models, column) == name:
            dataset = {"source": "local", "path": f"training/{name}.parquet", "target": outcome}
            return training_body(name, dataset, min_improvement=0.0, approval_timeout="72h")
    return None


async def _train(client: Client, queues: QueueSet, name: str, path: Path, target: str,
                 say: Callable[[str], None]) -> TrainingResult:
    inp = TrainingInput.model_validate(training_body(name, {"uri": str(path), "target": target}))
    handle = await client.start_workflow("TrainingPipeline", inp, id=f"bootstrap-{name}-{uuid.uuid4().hex[:8]}",
                                         task_queue=queues.pipelines, result_type=TrainingResult)
    result_task = asyncio.ensure_future(handle.result())
    while not result_task.done():
        status = await handle.query("status", result_type=TrainingStatus)
        if status.awaiting_approval:
            await handle.execute_update("approve", ApprovalDecision(approver="patient-risk bootstrap",
                                                                    reason="initial models"))
            break
        await asyncio.wait({result_task}, timeout=0.2)
    result = await result_task
    say(f"  {name}: {result.decision} v{result.version or result.production_version} "
        f"roc_auc {result.metrics.get('roc_auc', float('nan')):.3f}")
    return result


def _predict(settings: Settings, name: str, table: pd.DataFrame) -> pd.Series:
    engine = open_store(settings.resolved_database_url)
    served = serving.load_stage(engine, ArtifactStore(settings.resolved_artifact_root), name, "production")
    engine.dispose()
    return pd.Series(served.positive_probability(table).round(6), index=table.index)
