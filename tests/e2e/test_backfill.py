"""`mlwright backfill FeaturePipeline` against the dev server, through the real command."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import date

import pytest

from activities.deps import ActivityDeps
from mlwright.features import watermark
from mlwright.store.db import session_scope
from tests.conftest import running_workers, target_of
from tests.workflows.patient_risk_world import start_services

pytestmark = pytest.mark.e2e
DATES = ["2026-11-25", "2026-11-26", "2026-11-27"]


@pytest.fixture
def world(tmp_path):
    settings, _, _, servers = start_services(tmp_path)
    yield settings.model_copy(update={"task_queue_prefix": f"bf{uuid.uuid4().hex[:8]}-"})
    for server in servers:
        server.stop()


async def backfill(env: dict, *args: str) -> tuple[int, list[str], str]:
    # Not subprocess.run: the workers serving the runs live on this test's event loop.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mlwright.cli", "backfill", "FeaturePipeline", *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode, out.decode().splitlines(), err.decode()


def _most_at_once(spans: list[tuple]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


async def test_backfill_runs_each_date_once_two_at_a_time_and_a_rerun_reruns_nothing(dev_env, world):
    settings, client = world, dev_env.client
    prefix = settings.task_queue_prefix
    env = {"MLWRIGHT_TEMPORAL_ADDRESS": target_of(client), "MLWRIGHT_HOME": str(settings.home),
           "MLWRIGHT_TASK_QUEUE_PREFIX": prefix, "MLWRIGHT_ENVIRONMENT": "test"}
    deps = ActivityDeps.from_settings(settings)
    ids = [f"{prefix}feature-patient_risk-{d}" for d in DATES]
    async with running_workers(client, settings, deps):
        code, lines, err = await backfill(env, "--from", DATES[0], "--to", DATES[-1], "--concurrency", "2")
        assert code == 0, err
        done = sorted(line for line in lines if " completed " in line)
        assert [line.split()[:3] for line in done] == [[d, "completed", i] for d, i in zip(DATES, ids, strict=True)]
        assert all("300 entities" in line for line in done)
        assert lines[-1] == (f"backfill FeaturePipeline patient_risk {DATES[0]}..{DATES[-1]}: 3 dates, "
                             "3 completed, 0 already completed, 0 failed")

        code, lines, err = await backfill(env, "--from", DATES[0], "--to", DATES[-1])
        assert code == 0, err
        assert sorted(line.split()[:4] for line in lines[:-1]) == [[d, "already", "completed", i]
                                                                  for d, i in zip(DATES, ids, strict=True)]
        assert lines[-1].endswith("3 dates, 0 completed, 3 already completed, 0 failed")

        code, lines, err = await backfill(env, "--from", "2020-01-01", "--to", "2020-01-01")  # no source files then
        assert code == 1
        assert lines[-2].split()[1] == "failed" and "sources.labs: no daily files" in lines[-2]
        assert "1 of 1 dates failed: 2020-01-01" in err

    spans = []
    for wid in ids:
        runs = [w async for w in client.list_workflows(f'WorkflowId = "{wid}"')]
        assert len(runs) == 1  # the re-run started none
        spans.append((runs[0].start_time, runs[0].close_time))
    assert _most_at_once(spans) <= 2
    with session_scope(deps.engine) as session:  # backfills leave the watermarks alone
        assert watermark.current(session, "patient_risk", "labs") is None


def test_bad_ranges_are_refused_before_anything_starts():
    from mlwright.cli_backfill import dates

    assert dates(date(2026, 1, 30), date(2026, 2, 1), 5) == [date(2026, 1, 30), date(2026, 1, 31), date(2026, 2, 1)]
    with pytest.raises(ValueError, match="--from 2026-02-02 is after --to 2026-02-01"):
        dates(date(2026, 2, 2), date(2026, 2, 1), 5)
    with pytest.raises(ValueError, match="6 dates from .* more than MLWRIGHT_BACKFILL_MAX_DAYS=5"):
        dates(date(2026, 1, 1), date(2026, 1, 6), 5)
