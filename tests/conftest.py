"""Fixtures: session-scoped Temporal servers (no download), per-test settings, store and workers.

Every test gets its own task-queue prefix, state directory and database, so tests never share a
queue, a workflow id or a row.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.deps import ActivityDeps
from mlwright import visibility
from mlwright.client import client_options
from mlwright.codec import new_key
from mlwright.queues import QueueSet, Resource
from mlwright.sample_data import write_sample
from mlwright.settings import Settings
from tests.helpers import venv_bin
from workers.definitions import build_worker

# One payload key for the whole session (read when settings are first built, never at import), inherited
# by every subprocess (workers, CLI, `mlwright dev`), so a payload sealed in one process opens in another.
os.environ.setdefault("MLWRIGHT_PAYLOAD_KEYS", json.dumps({"test-session": new_key()}))

DEV_SERVER_ARGS = ["--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
                   *visibility.dev_server_args()]


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_bin("temporal"), dev_server_extra_args=DEV_SERVER_ARGS, **client_options()
    )
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_bin("temporal-test-server"), **client_options()
    )
    await visibility.register(env.client)
    yield env
    await env.shutdown()


def target_of(client: Client) -> str:
    return client.service_client.config.target_host


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        home=tmp_path / "state",
        task_queue_prefix=f"t{uuid.uuid4().hex[:10]}-",
        graceful_shutdown_s=0,
    )


@pytest.fixture
def deps(settings: Settings) -> ActivityDeps:
    return ActivityDeps.from_settings(settings)


@pytest.fixture
def queues(settings: Settings) -> QueueSet:
    return QueueSet(settings.task_queue_prefix)


@contextlib.asynccontextmanager
async def running_workers(client: Client, settings: Settings, deps: ActivityDeps,
                          replace: Sequence[Callable] = (),
                          resources: Sequence[Resource] = tuple(Resource)) -> AsyncIterator[QueueSet]:
    """The production workers of ``resources`` (all by default); ``replace`` swaps in same-named fakes."""
    queues = QueueSet(settings.task_queue_prefix)
    built = [build_worker(client, r, settings, deps, queues, replace) for r in resources]
    async with contextlib.AsyncExitStack() as stack:
        for worker, _ in built:
            await stack.enter_async_context(worker)
        yield queues
    for _, executor in built:
        if executor is not None:
            executor.shutdown(wait=True)


@pytest.fixture
def breast_cancer_csv(settings: Settings) -> Path:
    # Under the default data root (<home>/data): runs may read only inside a data root.
    return write_sample("breast_cancer", settings.resolved_data_roots["local"])


@pytest.fixture
def diabetes_parquet(settings: Settings) -> Path:
    return write_sample("diabetes", settings.resolved_data_roots["local"], fmt="parquet")
