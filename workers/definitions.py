"""Which workflows and activities each task queue serves."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import PollerBehaviorAutoscaling, Worker, WorkerDeploymentConfig

from activities import activity
from activities.datasets import DatasetActivities
from activities.deps import ActivityDeps
from activities.evaluation import EvaluationActivities
from activities.feature_store.alert import FeatureAlertActivities
from activities.feature_store.compute import FeatureComputeActivities
from activities.feature_store.stores import FeatureStoreActivities
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
from activities.triggers import TriggerActivities
from mlwright.queues import QueueSet, Resource
from mlwright.settings import Settings
from mlwright.step_ledger import StepLedgerInterceptor
from mlwright.steps import Step
from mlwright.steps import feature_pipeline as feature_pipeline_steps
from mlwright.steps import monitor as monitor_steps
from mlwright.steps import patient_risk as patient_risk_steps
from mlwright.steps import training as training_steps
from mlwright.steps import triggers as trigger_steps
from workers.faults import FaultInjection
from workflows.feature_pipeline import FeaturePipeline
from workflows.patient_risk import PatientRiskPipeline
from workflows.retraining_monitor import RetrainingMonitor
from workflows.training_pipeline import TrainingPipeline

WORKFLOWS: list[type] = [TrainingPipeline, PatientRiskPipeline, RetrainingMonitor, FeaturePipeline]
STEPS: tuple[Step, ...] = (*training_steps.ALL, *patient_risk_steps.ALL, *trigger_steps.ALL, *monitor_steps.ALL,
                         *feature_pipeline_steps.ALL)


def activity_implementations(deps: ActivityDeps, settings: Settings) -> dict[str, Callable]:
    """Step name -> bound activity method, for every step in the catalog."""
    pr = PatientRiskDeps.build(deps, settings)
    instances = [DatasetActivities(deps), FeatureActivities(deps), TrainingActivities(deps),
                 EvaluationActivities(deps), RegistryActivities(deps), SourceActivities(pr),
                 PreparationActivities(pr), ScoringActivities(pr), DeliveryActivities(pr), NotifyActivities(pr),
                 RecordActivities(pr), TriggerActivities(deps), MonitorActivities(deps),
                 FeatureComputeActivities(pr), FeatureStoreActivities(pr), FeatureAlertActivities(pr)]
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
    versioning = deployment_options(settings)
    # Outermost, so the ledger also records attempts that an interceptor further in refuses.
    observed = settings.ledger or settings.metrics_port is not None
    ledger = [StepLedgerInterceptor(settings, resource.value)] if observed else []
    if resource is Resource.PIPELINES:
        pollers = {"workflow_task_poller_behavior": PollerBehaviorAutoscaling()} if settings.poller_autoscaling else {}
        return Worker(client, task_queue=queues.pipelines, workflows=list(workflows),
                      max_concurrent_workflow_tasks=limit, interceptors=ledger, **pollers, **versioning), None
    interceptors = [*ledger, *([FaultInjection(settings.fault_injection)] if settings.fault_injection else [])]
    executor = ThreadPoolExecutor(max_workers=limit, thread_name_prefix=f"mlwright-{resource}")
    # Optional (settings.poller_autoscaling): bench/pollers.py has not shown a robust gain yet.
    pollers = {"activity_task_poller_behavior": PollerBehaviorAutoscaling()} if settings.poller_autoscaling else {}
    worker = Worker(client, task_queue=queues[resource], activities=list(activities), activity_executor=executor,
                    max_concurrent_activities=limit, interceptors=interceptors,
                    graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_s), **pollers, **versioning)
    return worker, executor


def deployment_options(settings: Settings) -> dict:
    """Worker Versioning when a deployment name and build id are set, else none (dev, tests).

    Workflows are pinned: a run finishes on the build it started on, so an upgrade never replays
    old histories on new code; the old build drains while new runs go to the current version.
    """
    name, build_id = settings.worker_deployment_name, settings.worker_build_id
    if not name and not build_id:
        return {}
    if not (name and build_id):
        raise ValueError("MLWRIGHT_WORKER_DEPLOYMENT_NAME and MLWRIGHT_WORKER_BUILD_ID are set together or not at all")
    return {"deployment_config": WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=name, build_id=build_id),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )}
