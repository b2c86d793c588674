"""Which workflows and activities each task queue serves.

A worker process imports only what its own queue serves (issue 10): activity classes are named
below by import path, per queue, and imported when that queue's worker is built. So the workflow
worker never loads pandas, scikit-learn or SQLAlchemy, and an activity worker loads only the
libraries of its own queue's classes (tests/workers/test_lean_imports.py checks it in a fresh
interpreter). A class appears under every queue one of its steps runs on.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio import activity as temporal_activity
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import PollerBehaviorAutoscaling, Worker, WorkerDeploymentConfig

from activities import activity
from mlwright.heartbeat import heartbeating
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
from workers.memory import ReleaseFreedMemory
from workflows.feature_pipeline import FeaturePipeline
from workflows.patient_risk import PatientRiskPipeline
from workflows.retraining_monitor import RetrainingMonitor
from workflows.training_pipeline import TrainingPipeline

if TYPE_CHECKING:
    from activities.deps import ActivityDeps

WORKFLOWS: list[type] = [TrainingPipeline, PatientRiskPipeline, RetrainingMonitor, FeaturePipeline]
STEPS: tuple[Step, ...] = (*training_steps.ALL, *patient_risk_steps.ALL, *trigger_steps.ALL, *monitor_steps.ALL,
                         *feature_pipeline_steps.ALL)


@dataclass(frozen=True)
class ActivityClass:
    """A class whose methods implement steps, named by import path so that only the workers of
    the queues it serves import it (and its libraries)."""

    path: str  # "package.module:Class"
    patient_risk: bool = False  # built with PatientRiskDeps (sources, care DB, HTTP), else ActivityDeps

    def load(self) -> type:
        module, _, name = self.path.partition(":")
        return getattr(importlib.import_module(module), name)


_DATASETS = ActivityClass("activities.datasets:DatasetActivities")
_EVALUATION = ActivityClass("activities.evaluation:EvaluationActivities")
_FEATURES = ActivityClass("activities.features:FeatureActivities")
_MONITOR = ActivityClass("activities.monitor:MonitorActivities")
_REGISTRY = ActivityClass("activities.registry:RegistryActivities")
_TRAINING = ActivityClass("activities.training:TrainingActivities")
_TRIGGERS = ActivityClass("activities.triggers:TriggerActivities")
_SOURCES = ActivityClass("activities.patient_risk.sources:SourceActivities", patient_risk=True)
_PREPARATION = ActivityClass("activities.patient_risk.preparation:PreparationActivities", patient_risk=True)
_SCORING = ActivityClass("activities.patient_risk.scoring:ScoringActivities", patient_risk=True)
_DELIVERY = ActivityClass("activities.patient_risk.delivery:DeliveryActivities", patient_risk=True)
_NOTIFY = ActivityClass("activities.patient_risk.notify:NotifyActivities", patient_risk=True)
_RECORDS = ActivityClass("activities.patient_risk.records:RecordActivities", patient_risk=True)
_FEATURE_COMPUTE = ActivityClass("activities.feature_store.compute:FeatureComputeActivities", patient_risk=True)
_FEATURE_STORES = ActivityClass("activities.feature_store.stores:FeatureStoreActivities", patient_risk=True)
_FEATURE_ALERT = ActivityClass("activities.feature_store.alert:FeatureAlertActivities", patient_risk=True)

# What each activity queue's worker imports; which step runs where is the catalog's (Step.resource).
ACTIVITY_CLASSES: dict[Resource, tuple[ActivityClass, ...]] = {
    Resource.IO: (_DATASETS, _MONITOR, _REGISTRY, _TRIGGERS, _SOURCES, _DELIVERY, _NOTIFY, _RECORDS,
                  _FEATURE_COMPUTE, _FEATURE_STORES, _FEATURE_ALERT),
    Resource.CPU: (_DATASETS, _EVALUATION, _FEATURES, _MONITOR, _TRAINING, _SOURCES, _PREPARATION, _SCORING,
                   _FEATURE_COMPUTE, _FEATURE_STORES),
    Resource.TRAINING: (_TRAINING,),
}

# What an idle worker of each queue imports in the background once it polls (``worker_preload``):
# the libraries every step of the queue imports, not the step code and the store (SQLAlchemy,
# sqlglot, pyarrow.dataset, httpx: ~45 MB more, ~0.5 CPU s), which the first step imports. An idle io/cpu worker then holds ~150 MB instead
# of ~200 MB (bench/startup.py) and its first step waits ~0.5 s (0.8 s with nothing preloaded).
# training's steps are long fits: its worker imports nothing ahead.
PRELOAD: dict[Resource, tuple[str, ...]] = {
    Resource.IO: ("numpy", "pandas", "pyarrow"),
    Resource.CPU: ("numpy", "pandas", "pyarrow"),
    Resource.TRAINING: (),
}
# What a worker imports when its first step arrives, in that step's thread, with the step code:
# libraries its pipelines need a few steps later but an idle worker should not hold. scikit-learn is
# ~80 MB (an idle cpu worker would hold ~235 MB); unpickling the patient-risk models imported it in
# the first model step, ~1 s on the run's critical path, while the first cpu step (a source
# validation) runs beside the pharmacy extract, off that path. Under the one import lock, so no
# other thread's import overlaps it.
AFTER_FIRST_STEP: dict[Resource, tuple[str, ...]] = {
    Resource.CPU: ("sklearn.compose", "sklearn.impute", "sklearn.linear_model", "sklearn.pipeline",
                   "sklearn.preprocessing"),
}


def preload_libraries(resources: Sequence[Resource]) -> None:
    """Import ``PRELOAD``'s libraries of these queues (a worker's background preload, see serve.py)."""
    with _Implementations.lock:  # a first step's import of the same modules must not interleave
        for resource in resources:
            for module in PRELOAD.get(resource, ()):
                importlib.import_module(module)

# Steps that only await the Temporal service (activity.client()): async, so their stubs are too
# (tests/workers/test_definitions.py checks this against the classes).
ASYNC_STEPS = frozenset({monitor_steps.POLL_CHILD.name})


def import_activity_classes(resources: Sequence[Resource], deps: DepsOnFirstUse | None = None) -> None:
    """Import what these queues' workers will serve, and open their store (a worker's background
    preload, see serve.py)."""
    with _Implementations.lock:
        for resource in resources:
            for cls in ACTIVITY_CLASSES.get(resource, ()):
                cls.load()
        if deps is not None:
            deps()


class _Implementations:
    """One queue's activity classes, imported and built on first need, once per worker.

    A worker registers a light stub per step (see ``_lazy_step``) and polls at once; the classes
    (pandas, pyarrow, scikit-learn ...) load on the first step that needs one, or earlier when the
    worker preloads them in the background (``worker_preload``). One lock for all: imports of one
    module from two threads must not interleave with a half-built instance.
    """

    lock = threading.RLock()

    def __init__(self, resource: Resource, deps: ActivityDeps | DepsOnFirstUse, settings: Settings) -> None:
        self.resource, self._deps, self.settings = resource, deps, settings
        self._instances: dict[ActivityClass, object] = {}
        self._patient_risk = None
        self._first_step_seen = False

    def _instance(self, cls: ActivityClass) -> object:
        if cls not in self._instances:
            deps = self._deps() if isinstance(self._deps, DepsOnFirstUse) else self._deps
            if cls.patient_risk and self._patient_risk is None:
                from activities.patient_risk.deps import PatientRiskDeps

                self._patient_risk = PatientRiskDeps.build(deps, self.settings)
            self._instances[cls] = cls.load()(self._patient_risk if cls.patient_risk else deps)
        return self._instances[cls]

    def method(self, step: Step) -> Callable:
        """The bound method implementing ``step``: the first listed class that has it."""
        with self.lock:
            if not self._first_step_seen:
                self._first_step_seen = True
                if self.settings.worker_preload:
                    for module in AFTER_FIRST_STEP.get(self.resource, ()):
                        importlib.import_module(module)
            for cls in ACTIVITY_CLASSES.get(self.resource, ()):
                if hasattr(cls.load(), step.name):
                    return getattr(self._instance(cls), step.name)
        raise RuntimeError(f"step {step.name} on {self.resource} has no implementation in ACTIVITY_CLASSES")


class DepsOnFirstUse:
    """A worker's ActivityDeps, built on the first step that needs them (or by the preload): opening
    the store imports SQLAlchemy, which is CPU the worker need not spend before it polls."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._deps: ActivityDeps | None = None

    def __call__(self) -> ActivityDeps:
        with _Implementations.lock:
            if self._deps is None:
                from activities.deps import ActivityDeps

                self._deps = ActivityDeps.from_settings(self.settings)
            return self._deps


def _lazy_step(step: Step, implementations: _Implementations) -> Callable:
    """An activity registered under ``step``'s name and contract that runs the real method,
    resolving it on first call (heartbeating meanwhile, so a slow first import is not a lost worker)."""
    resolved: list[Callable] = []
    beat = step.policy.heartbeat.total_seconds() / 6 if step.policy.heartbeat else None

    def method() -> Callable:
        if not resolved:
            resolved.append(implementations.method(step))
        return resolved[0]

    if step.name in ASYNC_STEPS:
        async def run(inp):  # type: ignore[no-untyped-def]
            return await method()(inp)
    else:
        def run(inp):  # type: ignore[no-untyped-def]
            if resolved or beat is None:
                return method()(inp)
            with heartbeating(step.name, every_s=beat):
                return method()(inp)

    run.__name__ = run.__qualname__ = step.name
    run.__annotations__ = {"inp": step.input, "return": step.output}
    return temporal_activity.defn(name=step.name, no_thread_cancel_exception=True)(run)


def activities_for(resource: Resource, deps: ActivityDeps | DepsOnFirstUse, settings: Settings,
                   implementations: _Implementations | None = None) -> list[Callable]:
    """The activities of the steps the catalog puts on ``resource``: stubs that run the bound
    methods of ACTIVITY_CLASSES, imported on first need."""
    implementations = implementations or _Implementations(resource, deps, settings)
    return [_lazy_step(s, implementations) for s in STEPS if s.resource == resource]


def activity_implementations(deps: ActivityDeps, settings: Settings) -> dict[str, Callable]:
    """Step name -> activity, for every step in the catalog."""
    return {activity.defn_name(a): a for r in ACTIVITY_CLASSES for a in activities_for(r, deps, settings)}


def concurrency(resource: Resource, settings: Settings) -> int:
    return {
        Resource.PIPELINES: settings.pipelines_concurrency,
        Resource.IO: settings.io_concurrency,
        Resource.CPU: settings.cpu_concurrency,
        Resource.TRAINING: settings.training_concurrency,
    }[resource]


def build_worker(client: Client, resource: Resource, settings: Settings, deps: ActivityDeps | DepsOnFirstUse | None,
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
    # Inside the ledger: the release runs after the step has been measured and never counts in it.
    interceptors = [*ledger, ReleaseFreedMemory(settings.worker_release_memory_growth_mb),
                    *([FaultInjection(settings.fault_injection)] if settings.fault_injection else [])]
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
