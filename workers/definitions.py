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
from activities.registry import RegistryActivities
from activities.training import TrainingActivities
from mlwright.queues import QueueSet, Resource
from mlwright.settings import Settings
from mlwright.steps import Step
from mlwright.steps import training as training_steps
from workflows.training_pipeline import TrainingPipeline

WORKFLOWS: list[type] = [TrainingPipeline]
STEPS: tuple[Step, ...] = training_steps.ALL


def activity_implementations(deps: ActivityDeps) -> dict[str, Callable]:
    """Step name -> bound activity method, for every step in the catalog."""
    instances = [DatasetActivities(deps), FeatureActivities(deps), TrainingActivities(deps),
                 EvaluationActivities(deps), RegistryActivities(deps)]
    found = {step.name: getattr(i, step.name) for step in STEPS for i in instances if hasattr(i, step.name)}
    missing = sorted({s.name for s in STEPS} - set(found))
    if missing:
        raise RuntimeError(f"steps without an implementation: {missing}")
    return found


def activities_for(resource: Resource, deps: ActivityDeps) -> list[Callable]:
    impls = activity_implementations(deps)
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
    """A worker for one resource class; the caller shuts the executor down after the worker.

    ``replace`` swaps catalog activities for others registered under the same name (tests use it
    to force failure paths).
    """
    limit = concurrency(resource, settings)
    if resource is Resource.PIPELINES:
        return Worker(client, task_queue=queues.pipelines, workflows=WORKFLOWS,
                      max_concurrent_workflow_tasks=limit), None
    if deps is None:
        raise ValueError(f"the {resource} worker needs activity dependencies")
    executor = ThreadPoolExecutor(max_workers=limit, thread_name_prefix=f"mlwright-{resource}")
    swaps = {activity.defn_name(f): f for f in replace} if replace else {}
    served = [swaps.get(activity.defn_name(a), a) for a in activities_for(resource, deps)]
    worker = Worker(client, task_queue=queues[resource], activities=served,
                    activity_executor=executor, max_concurrent_activities=limit,
                    graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_s))
    return worker, executor
