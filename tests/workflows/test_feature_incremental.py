"""FeaturePipeline reads each source after its watermark; only a finished run moves the marks."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pandas as pd
import pytest
from temporalio.client import WorkflowFailureError

from activities.deps import ActivityDeps
from activities.feature_store.stores import feature_root
from mlwright.contracts.feature_pipeline import FeaturePipelineResult, FeatureProgress
from mlwright.features import incremental, offline, watermark
from mlwright.patient_risk import sources
from mlwright.store.db import session_scope
from tests.conftest import running_workers
from tests.workflows.patient_risk_world import RUN_DATE, start_services

DAY1, DAY2 = RUN_DATE - timedelta(days=7), RUN_DATE  # a week: every source has new rows
SOURCES = [w.source for w in incremental.WATERMARKED]


@pytest.fixture
def world(tmp_path):
    settings, _, _, servers = start_services(tmp_path)
    yield settings.model_copy(update={"task_queue_prefix": f"fi{uuid.uuid4().hex[:8]}-"})
    for server in servers:
        server.stop()


async def _start(client, queues, day, **extra):
    return await client.start_workflow(
        "FeaturePipeline", {"run_date": day.isoformat(), **extra}, id=f"features-{day}-{uuid.uuid4().hex[:6]}",
        task_queue=queues.pipelines, result_type=FeaturePipelineResult)


def _marks(engine) -> dict[str, pd.Timestamp | None]:
    with session_scope(engine) as session:
        return {name: watermark.current(session, "patient_risk", name) for name in SOURCES}


def _window_rows(where, day, marks=None) -> dict[str, int]:
    """Rows of each source's window for ``day`` (after each mark, when given: what an incremental run must read)."""
    out = {}
    for spec in incremental.WATERMARKED:
        table = incremental.read_full(spec.source, where, day)[spec.table]
        newer = pd.to_datetime(table[spec.column], utc=True) > marks[spec.source] if marks else table.index == table.index
        out[spec.source] = int(newer.sum())
    return out


def _partition(root, day) -> pd.DataFrame:
    return offline.read(root, "patient_risk", start=day, end=day).sort_values("entity_id").reset_index(drop=True)


async def test_second_run_reads_only_new_rows_and_a_failed_run_moves_no_mark(dev_env, world):
    settings = world
    deps = ActivityDeps.from_settings(settings)
    where = sources.SourceLocations.under(settings.resolved_sources_root, settings.ehr_url)
    client, root = dev_env.client, feature_root(settings)
    async with running_workers(client, settings, deps) as queues:
        first = await (await _start(client, queues, DAY1)).result()
        assert first.read_after == {}  # no watermark yet: every source read whole
        assert first.source_read == _window_rows(where, DAY1)
        assert sorted(first.watermarks_advanced) == sorted(SOURCES)
        after_first = _marks(deps.engine)
        assert all(mark is not None and mark.date() <= DAY1 for mark in after_first.values())

        # A run that fails (after extracting DAY2's new rows) leaves every mark where it was.
        failing = await _start(client, queues, DAY2, reference_date="2020-01-01")
        with pytest.raises(WorkflowFailureError):
            await failing.result()
        assert _marks(deps.engine) == after_first

        expected = _window_rows(where, DAY2, after_first)
        assert all(n > 0 for n in expected.values()), expected
        handle = await _start(client, queues, DAY2)
        second = await handle.result()
        assert second.read_after == {k: v.isoformat() for k, v in after_first.items()}
        assert second.source_read == expected  # only what is newer than the marks
        whole = _window_rows(where, DAY2)
        assert all(second.source_read[s] < whole[s] for s in SOURCES)
        after_second = _marks(deps.engine)
        assert all(after_second[s] > after_first[s] for s in SOURCES)
        incremental_features = _partition(root, DAY2)

        # A backfill of the same date reads everything, writes the same features, and moves no mark.
        backfill = await _start(client, queues, DAY2, backfill=True)
        full = await backfill.result()
        progress = await backfill.query("progress", result_type=FeatureProgress)
    assert full.read_after == {} and full.watermarks_advanced == []
    assert full.source_read == whole
    assert full.source_rows == second.source_rows
    assert [st.state for st in progress.steps if st.name == "features_advance_watermark"] == ["skipped"]
    assert _marks(deps.engine) == after_second
    pd.testing.assert_frame_equal(_partition(root, DAY2), incremental_features)
