"""Feature statistics against numpy/pandas reference values; stored once per run."""

import numpy as np
import pandas as pd
import pytest

from mlwright.features.stats import load, save, summarize
from mlwright.store.db import init_db, open_store, session_scope


def _frame():
    rng = np.random.default_rng(0)
    x = rng.normal(5, 2, 1001)
    x[::10] = np.nan
    return pd.DataFrame({"x": x, "c": rng.choice(["a", "b", "c"], 1001), "k": np.arange(1001) % 3})


def test_numeric_summary_matches_numpy():
    frame = _frame()
    s = summarize(frame)[0]
    present = frame["x"].dropna().to_numpy()
    assert (s.count, s.nulls) == (len(present), 101)
    assert s.mean == pytest.approx(present.mean()) and s.std == pytest.approx(present.std())
    for key, q in (("p01", 0.01), ("p25", 0.25), ("p50", 0.5), ("p99", 0.99)):
        assert s.quantiles[key] == pytest.approx(np.quantile(present, q))
    hist, edges = np.histogram(present, bins=10)
    np.testing.assert_allclose(s.histogram_edges, edges)
    # np.histogram closes the last bin on the right; ours too (the max lands in the last bin).
    assert s.histogram_counts == hist.tolist()


def test_categorical_and_discrete_summaries():
    frame = _frame()
    c, k = summarize(frame)[1:]
    assert c.kind == "categorical" and c.category_counts == frame["c"].value_counts().to_dict()
    assert k.kind == "numeric" and k.min == 0 and k.max == 2 and sum(k.histogram_counts) == 1001


def test_saved_once_per_run(tmp_path):
    engine = open_store(f"sqlite:///{tmp_path / 's.db'}")
    init_db(engine)
    summaries = summarize(_frame())
    for expected in (3, 0):
        with session_scope(engine) as session:
            assert save(session, feature_set="fs", run_key="r1", run_date="2026-03-01",
                        summaries=summaries) == expected
    with session_scope(engine) as session:
        assert load(session, feature_set="fs", run_key="r1") == summaries
