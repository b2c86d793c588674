"""Report figures for seeded runs equal the hand-computed values (see seeded.py)."""

from __future__ import annotations

import json

import pytest

from mlwright import cli_report
from mlwright.reporting import render
from mlwright.reporting.figures import percentile
from mlwright.store.db import open_store
from tests.mlwright.reporting.seeded import DAY, EXPECTED, EXPECTED_STEPS, RUNS, seed_store


@pytest.fixture
def report(settings):
    seed_store(open_store(settings.resolved_database_url))
    return cli_report.build(settings, DAY, None, RUNS)


def test_pipeline_figures_equal_the_hand_computed_ones(report):
    (p,) = report.pipelines
    for name, value in EXPECTED.items():
        assert getattr(p, name) == pytest.approx(value), name
    assert [t["workflow_id"] for t in p.trend] == ["r1", "r2", "r3", "r4"]
    assert [t["status"] for t in p.trend][-1] == "aborted" and p.trend[3]["cost"] is None


def test_step_figures_and_right_sizing(report):
    steps = {s.step: s for s in report.pipelines[0].steps}
    assert set(steps) == set(EXPECTED_STEPS)
    for step, want in EXPECTED_STEPS.items():
        for name, value in want.items():
            assert getattr(steps[step], name) == pytest.approx(value), (step, name)


def test_alerts_by_severity_include_the_stored_only_info(report):
    assert report.alerts == {"critical": {"stored": 3, "sent": 3}, "info": {"stored": 1, "sent": 0}}


def test_json_and_text_carry_the_same_figures(report):
    data = json.loads(render.as_json(report))
    assert data["pipelines"][0]["mttr_min"] == 25.0 and data["pipelines"][0]["success_rate"] == 0.75
    table = render.as_text(report)
    assert "PatientRiskPipeline" in table and "75.0%" in table and "lower cpu_concurrency to 1" in table


def test_a_window_after_the_runs_sees_no_ledger_or_alerts(settings):
    seed_store(open_store(settings.resolved_database_url))
    late = cli_report.build(settings, DAY.replace(day=27), None, [])
    assert late.pipelines == [] and late.alerts == {}


def test_nearest_rank_percentile():
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0
    assert [percentile(list(range(1, 21)), q) for q in (0.5, 0.95, 1.0)] == [10, 19, 20]
