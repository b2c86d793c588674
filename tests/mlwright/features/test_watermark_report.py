"""Watermarks move only forward; the drift report is JSON plus an HTML table."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mlwright.features import report, watermark
from mlwright.ml.drift import DriftResult, compare
from mlwright.store.db import init_db, open_store, session_scope


def test_watermark_filters_and_advances_only_forward(tmp_path):
    engine = open_store(f"sqlite:///{tmp_path / 's.db'}")
    init_db(engine)
    rows = pd.DataFrame({"t": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"], utc=True), "v": [1, 2, 3]})
    with session_scope(engine) as s:
        assert watermark.current(s, "risk", "labs") is None
        assert len(watermark.newer_than(rows, "t", None)) == 3
        assert watermark.advance(s, "risk", "labs", watermark.high_water(rows.head(2), "t"), "run-1")
    with session_scope(engine) as s:
        mark = watermark.current(s, "risk", "labs")
        assert watermark.newer_than(rows, "t", mark)["v"].tolist() == [3]
        assert not watermark.advance(s, "risk", "labs", pd.Timestamp("2026-01-01", tz="UTC"), "backfill")
    with session_scope(engine) as s:
        assert watermark.current(s, "risk", "labs") == pd.Timestamp("2026-01-02", tz="UTC")
        assert watermark.current(s, "risk", "claims") is None


def test_report_json_round_trips_and_html_lists_drifted_first(tmp_path):
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
    cur = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(1, 1, size=2000)})
    result = compare(ref, cur)
    paths = report.write(tmp_path / "r", result, "risk 2026-03-01")
    body = json.loads(Path(paths["json"]).read_text())
    assert DriftResult.model_validate({k: v for k, v in body.items() if k != "title"}) == result
    page = Path(paths["html"]).read_text()
    assert page.index("<td>b</td>") < page.index("<td>a</td>") and 'class="critical"' in page
