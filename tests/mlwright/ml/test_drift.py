"""Drift statistics against hand-computed and scipy reference values, and the level rules."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp, wasserstein_distance

from mlwright.ml.drift import DriftResult, DriftThresholds, Level, compare, numeric_bins, psi


def _normal(n, shift=0.0, scale=1.0, seed=0):
    return np.random.default_rng(seed).normal(shift, scale, n)


def test_psi_matches_hand_computation():
    e, a = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert psi(e, a) == pytest.approx(expected)
    assert psi(e, e) == 0.0
    # An empty current bin is floored, so PSI is finite but large.
    assert 0.5 < psi(e, np.array([1.0, 0.0])) < 10


def test_numeric_statistics_are_scipy_values():
    ref, cur = _normal(5000, seed=1), _normal(5000, shift=0.3, seed=2)
    f = compare(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur})).feature("x")
    ks = ks_2samp(ref, cur, method="asymp")
    assert f.ks_statistic == pytest.approx(ks.statistic)
    assert f.ks_pvalue == pytest.approx(ks.pvalue)
    assert f.wasserstein_normed == pytest.approx(wasserstein_distance(ref, cur) / np.std(ref))
    edges = numeric_bins(ref)
    hand = psi(np.histogram(ref, edges)[0] / 5000, np.histogram(cur, edges)[0] / 5000)
    assert f.psi == pytest.approx(hand)
    assert len(edges) == 11  # deciles: 10 bins
    assert f.kind == "numeric" and f.level == Level.critical  # 0.3σ: normed Wasserstein ≈ 0.3 >= 0.25


def test_same_distribution_is_not_drift():
    ref = pd.DataFrame({"x": _normal(10_000, seed=3), "flag": (_normal(10_000, seed=4) > 0).astype(int),
                        "sex": np.where(_normal(10_000, seed=5) > 0, "M", "F")})
    cur = pd.DataFrame({"x": _normal(10_000, seed=6), "flag": (_normal(10_000, seed=7) > 0).astype(int),
                        "sex": np.where(_normal(10_000, seed=8) > 0, "M", "F")})
    result = compare(ref, cur)
    assert result.level == Level.none, [f.reasons for f in result.features]
    assert result.drifted == []


def test_small_shift_warns_large_shift_is_critical():
    ref = pd.DataFrame({"x": _normal(10_000, seed=9)})
    assert compare(ref, pd.DataFrame({"x": _normal(10_000, 0.15, seed=10)})).level == Level.warning
    big = compare(ref, pd.DataFrame({"x": _normal(10_000, 1.0, seed=11)}))
    assert big.level == Level.critical
    assert any(r.startswith("psi") for r in big.features[0].reasons)


def test_discrete_numeric_binned_per_value():
    ref = np.array([0, 1] * 500)
    assert len(numeric_bins(ref)) == 3  # two bins, one per value
    f = compare(pd.DataFrame({"b": ref}), pd.DataFrame({"b": np.array([0] * 800 + [1] * 200)})).feature("b")
    assert f.psi == pytest.approx(psi([0.5, 0.5], [0.8, 0.2]))


def test_categorical_uses_psi_and_jensen_shannon():
    ref = pd.Series(["a"] * 600 + ["b"] * 400)
    cur = pd.Series(["a"] * 500 + ["b"] * 400 + ["c"] * 100)
    f = compare(pd.DataFrame({"c": ref}), pd.DataFrame({"c": cur})).feature("c")
    p, q = np.array([0.6, 0.4, 0.0]), np.array([0.5, 0.4, 0.1])
    assert f.kind == "categorical"
    assert f.jensen_shannon == pytest.approx(jensenshannon(p, q, base=2))
    assert f.psi == pytest.approx(psi(p, q))
    assert f.ks_statistic is None and f.wasserstein_normed is None
    assert f.level == Level.critical  # a new category at 10 %: PSI ≈ 0.7


def test_null_share_change_is_graded():
    ref = pd.DataFrame({"x": _normal(1000, seed=12)})
    cur = ref.copy()
    cur.loc[:299, "x"] = np.nan
    f = compare(ref, cur).feature("x")
    assert f.null_share_current == pytest.approx(0.3)
    assert f.level == Level.critical and any("null_share" in r for r in f.reasons)


def test_constant_reference_stays_json_finite():
    f = compare(pd.DataFrame({"x": np.zeros(100)}), pd.DataFrame({"x": np.ones(100)})).feature("x")
    assert f.level == Level.critical and math.isfinite(f.wasserstein_normed)
    same = compare(pd.DataFrame({"x": np.zeros(100)}), pd.DataFrame({"x": np.zeros(100)}))
    assert same.level == Level.none


def test_per_feature_override_and_json_round_trip():
    ref = pd.DataFrame({"x": _normal(10_000, seed=13), "y": _normal(10_000, seed=14)})
    cur = pd.DataFrame({"x": _normal(10_000, 0.15, seed=15), "y": _normal(10_000, 0.15, seed=16)})
    t = DriftThresholds(per_feature={"y": {"wasserstein_warning": 0.5, "wasserstein_critical": 0.9,
                                           "ks_warning": 0.5, "ks_critical": 0.9}})
    result = compare(ref, cur, t)
    assert result.feature("x").level == Level.warning
    assert result.feature("y").level == Level.none
    again = DriftResult.model_validate(json.loads(result.model_dump_json()))
    assert again == result


def test_features_subset_and_missing_feature_named():
    ref = pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0]})
    assert [f.feature for f in compare(ref, ref, features=["y"]).features] == ["y"]
    with pytest.raises(ValueError, match="'z'"):
        compare(ref, ref, features=["z"])


def test_invalid_threshold_rejected():
    with pytest.raises(ValueError, match="ks_alpha"):
        DriftThresholds(ks_alpha=2)


def test_large_frames_use_thinned_order_statistics_close_to_full_scipy():
    ref, cur = _normal(60_000, seed=17), _normal(60_000, shift=0.2, seed=18)
    t = DriftThresholds(max_sample=5_000)
    f = compare(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur}), t).feature("x")
    assert f.ks_statistic == pytest.approx(ks_2samp(ref, cur).statistic, abs=2 / 5_000)
    assert f.wasserstein_normed == pytest.approx(wasserstein_distance(ref, cur) / np.std(ref), abs=0.01)
    assert f.ks_pvalue < 1e-6 and f.level == Level.warning
