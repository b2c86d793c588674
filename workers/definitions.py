"""Which workflows and activities each task queue serves."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities import activity
from activities.datasets import DatasetActivities
from activities.deps import ActivityDeps
from activities.evaluation import EvaluationActivities
from activities.features import FeatureActivities
from activities.monitor import MonitorActivities
from activities.patient_risk.delivery import DeliveryActivities
from activities.patient_risk.deps import PatientRiskDeps
from activities.patient_risk.notify import NotifyActivities
from activities.patient_risk.preparation import PreparationActivities
from activities.patient_risk.records import RecordActivities
from activities.patient_risk.scoring import ScoringActivities
from activities.patient_risk.sources import SourceActivities
from activities.registry import RegistryActivities
from activities.training import TrainingActivities
from mlwright.queues import QueueSet, Resource
from mlwright.settings import Settings
from mlwright.steps import Step
from mlwright.steps import monitor as monitor_steps
from mlwright.steps import patient_risk as patient_risk_steps
from mlwright.steps import training as training_steps
from workers.faults import FaultInjection
from workflows.patient_risk import PatientRiskPipeline
from workflows.retraining_monitor import RetrainingMonitor
from workflows.training_pipeline import TrainingPipeline

WORKFLOWS: list[type] = [TrainingPipeline, PatientRiskPipeline, RetrainingMonitor]
STEPS: tuple[Step, ...] = (*training_steps.ALL, *patient_risk_steps.ALL, *monitor_steps.ALL)


def activity_implementations(deps: ActivityDeps, settings: Settings) -> dict[str, Callable]:
    """Step name -> bound activity method, for every step in the catalog."""
    pr = PatientRiskDeps.build(deps, settings)
    instances = [DatasetActivities(deps), FeatureActivities(deps), TrainingActivities(deps),
                 EvaluationActivities(deps), RegistryActivities(deps), SourceActivities(pr),
                 PreparationActivities(pr), ScoringActivities(pr), DeliveryActivities(pr), NotifyActivities(pr),
                 RecordActivities(pr), MonitorActivities(deps)]
    found = {step.name: getattr(i, step.name) for step in STEPS for i in instances if hasattr(i, step.name)}
    missing = sorted({s.name for s in STEPS} - set(found))
    if missing:
        raise RuntimeError(f"steps without an implementation: {missing}")
    return found


def activities_for(resource: Resource, deps: ActivityDeps, settings: Settings) -> list[Callable]:
    impls = activity_implementations(deps, settings)
    return [impls[s.name] for s in STEPS if s.resource == resource]


def concurrency(resource: Resource, settings: Settings) -> int:
    return {
        Resource.PIPELINES: settings.pipelines_concurrency,
        Resource.IO: settings.io_concurrency,
        Resource.CPU: settings.cpu_concurrency,
        Resource.TRAINING: settings.training_concurrency,
    }[resource]


def build_worker(client: Client, resource: Resource, settings: Settings, deps: ActivityDeps | None,
                 queues: QueueSet, replace: Sequence[Callable] = ()) -> tuple[Worker, ThreadPoolExecutor | None]:
    """The worker of one resource class, serving what the catalog assigns to it.

    ``replace`` swaps catalog activities for others registered under the same name (tests use it
    to force failure paths). The caller shuts the executor down after the worker.
    """
    if resource is Resource.PIPELINES:
        return configure_worker(client, resource, settings, queues, workflows=WORKFLOWS)
    if deps is None:
        raise ValueError(f"the {resource} worker needs activity dependencies")
    swaps = {activity.defn_name(f): f for f in replace} if replace else {}
    served = [swaps.get(activity.defn_name(a), a) for a in activities_for(resource, deps, settings)]
    return configure_worker(client, resource, settings, queues, activities=served)


def configure_worker(client: Client, resource: Resource, settings: Settings, queues: QueueSet,
                     workflows: Sequence[type] = (), activities: Sequence[Callable] = ()
                     ) -> tuple[Worker, ThreadPoolExecutor | None]:
    """How mlwright runs any worker: its queue, its limits, a thread pool for sync activities."""
    limit = concurrency(resource, settings)
    if resource is Resource.PIPELINES:
        return Worker(client, task_queue=queues.pipelines, workflows=list(workflows),
                      max_concurrent_workflow_tasks=limit), None
    interceptors = [FaultInjection(settings.fault_injection)] if settings.fault_injection else []
    executor = ThreadPoolExecutor(max_workers=limit, thread_name_prefix=f"mlwright-{resource}")
    worker = Worker(client, task_queue=queues[resource], activities=list(activities), activity_executor=executor,
                    max_concurrent_activities=limit, interceptors=interceptors,
                    graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_s))
    return worker, executor
