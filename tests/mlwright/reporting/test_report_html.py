"""The HTML report opens offline in headless Chromium and its four charts draw their data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlwright import cli_report
from mlwright.reporting import render
from mlwright.store.db import open_store
from tests.mlwright.reporting.seeded import DAY, RUNS, seed_store

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (apt-get install -y chromium)")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def test_the_charts_draw_their_data_offline(settings, tmp_path):
    seed_store(open_store(settings.resolved_database_url))
    page_file = tmp_path / "report.html"
    page_file.write_text(render.as_html(cli_report.build(settings, DAY, None, RUNS)))
    html = page_file.read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html  # nothing to fetch

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            requests = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri())
            charts = page.eval_on_selector_all("svg.chart", """svgs => svgs.map(s => ({
                name: s.dataset.chart, width: s.getBoundingClientRect().width,
                data: [...s.querySelectorAll('.datum')].map(d => ({label: d.dataset.label,
                    value: Number(d.dataset.value), box: d.getBBox().width + d.getBBox().height}))}))""")
        finally:
            browser.close()
    assert requests == [page_file.as_uri()]
    by_name = {c["name"]: c for c in charts}
    assert set(by_name) == {"success-rate", "duration-trend-PatientRiskPipeline", "cost-per-run-PatientRiskPipeline",
                            "step-breakdown-PatientRiskPipeline"}
    assert all(c["width"] > 100 for c in charts)
    assert [d["value"] for d in by_name["success-rate"]["data"]] == [75.0]
    assert [d["value"] for d in by_name["duration-trend-PatientRiskPipeline"]["data"]] == [600, 1200, 1800, 600]
    assert [d["label"] for d in by_name["cost-per-run-PatientRiskPipeline"]["data"]] == ["r1", "r2", "r3"]
    assert {d["label"]: d["value"] for d in by_name["step-breakdown-PatientRiskPipeline"]["data"]} == {
        "model_deterioration": 20, "extract_ehr": 10}
    assert all(d["box"] > 0 for c in charts for d in c["data"])  # drawn with a size, not just present
