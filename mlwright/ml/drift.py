"""Feature drift between a reference frame and a current frame, with per-feature thresholds.

Statistics come from scipy (``ks_2samp``, ``wasserstein_distance``, ``jensenshannon``); only PSI,
which scipy lacks, is computed here, on numpy histograms.

Default thresholds and why (``DriftThresholds``):

* **PSI** warning 0.1, critical 0.25 — the credit-scoring rule of thumb (<0.1 stable, 0.1–0.25
  moderate, >0.25 major) that Evidently also uses as its PSI default (0.1). A normal mean shift of
  d·σ gives PSI ≈ d², so PSI alone only flags shifts of about 0.3σ and more.
* **Wasserstein / reference std** warning 0.1, critical 0.25 — Evidently's default for numeric
  columns above 1000 rows is normed Wasserstein at 0.1; we keep it. For a mean shift it equals the
  shift in σ, so "warning" means "moved a tenth of a standard deviation".
* **Two-sample KS** warning when p < 0.01 *and* D ≥ 0.05, critical when D ≥ 0.15 (and p < 0.01).
  Evidently uses p < 0.05 (its default for ≤1000 rows). We differ twice: 0.01 because one run
  tests 47 features (at 0.05 a stable run would raise ~2 false warnings); and an effect floor on D
  because at 10^5–10^6 rows every p-value is tiny and p alone would alert on harmless shifts.
* **Jensen-Shannon distance** (base 2, in [0, 1]; categoricals) warning 0.1, critical 0.2 —
  Evidently's categorical default above 1000 rows is JS distance at 0.1.
* **Null share** change warning 0.05, critical 0.2 (absolute): a source dropping a field shows up
  here before it shows in any distribution statistic.

NannyML by default computes Jensen-Shannon per chunk and derives thresholds from the reference
period itself (mean ± 3 std of the reference chunks' values) rather than fixed numbers. That
adapts to each feature's noise but needs several reference chunks and makes "critical" differ per
feature silently; mlwright prefers fixed, documented numbers that a config can override per
feature (``DriftThresholds.per_feature``). bench/drift.py measures false-positive and detection
rates at these defaults.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

# An empty bin would make PSI infinite; this floor is the common choice (1e-4 share).
_EPS = 1e-4
_PSI_BINS = 10
# Numeric columns with at most this many distinct reference values (flags, small counts) are
# binned per value: quantile edges would collapse into one or two bins.
_DISCRETE_MAX = 20
# A feature whose reference is constant has no std to normalise by; a changed value is "infinitely"
# far, reported as this large finite number so the result stays valid JSON.
_FAR = 1e9
_KS_EXACT_BELOW = 500


class Level(StrEnum):
    none = "none"
    warning = "warning"
    critical = "critical"


_ORDER = {Level.none: 0, Level.warning: 1, Level.critical: 2}


def worst(levels) -> Level:
    return max(levels, key=_ORDER.__getitem__, default=Level.none)


class FeatureThresholds(BaseModel):
    psi_warning: float = Field(0.1, ge=0)
    psi_critical: float = Field(0.25, ge=0)
    wasserstein_warning: float = Field(0.1, ge=0)
    wasserstein_critical: float = Field(0.25, ge=0)
    ks_alpha: float = Field(0.01, gt=0, lt=1)
    ks_warning: float = Field(0.05, ge=0, le=1)
    ks_critical: float = Field(0.15, ge=0, le=1)
    js_warning: float = Field(0.1, ge=0, le=1)
    js_critical: float = Field(0.2, ge=0, le=1)
    null_warning: float = Field(0.05, ge=0, le=1)
    null_critical: float = Field(0.2, ge=0, le=1)
    # KS and Wasserstein run on at most this many evenly spaced order statistics per side (scipy
    # takes ~1 s per million-row pair): D and W move by at most ~1/max_sample, far below the
    # thresholds; the KS p-value is then that of max_sample rows, i.e. conservative.
    max_sample: int = Field(20_000, ge=100)


class DriftThresholds(FeatureThresholds):
    """Defaults for every feature, overridable per feature by name (partial overrides allowed)."""

    per_feature: dict[str, dict[str, float]] = Field(default_factory=dict)

    def for_feature(self, name: str) -> FeatureThresholds:
        base = self.model_dump(exclude={"per_feature"})
        return FeatureThresholds(**{**base, **self.per_feature.get(name, {})})


class FeatureDrift(BaseModel):
    feature: str
    kind: str  # "numeric" | "categorical"
    reference_count: int
    current_count: int
    null_share_reference: float
    null_share_current: float
    psi: float | None = None
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    wasserstein_normed: float | None = None
    jensen_shannon: float | None = None
    level: Level = Level.none
    reasons: list[str] = Field(default_factory=list)


class DriftResult(BaseModel):
    level: Level
    features: list[FeatureDrift]
    thresholds: DriftThresholds

    @property
    def drifted(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.level != Level.none]

    def feature(self, name: str) -> FeatureDrift:
        return next(f for f in self.features if f.feature == name)


def _is_categorical(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s))


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of two share vectors over the same bins (floored at 1e-4 so empty bins stay finite)."""
    e = np.maximum(np.asarray(expected, float), _EPS)
    a = np.maximum(np.asarray(actual, float), _EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts.astype(float)


def numeric_bins(ref: np.ndarray) -> np.ndarray:
    """Bin edges from the reference: per value when discrete, else deciles; open at both ends."""
    ref = np.sort(ref)
    values = ref[np.concatenate([[True], ref[1:] != ref[:-1]])] if len(ref) else ref
    if len(values) <= _DISCRETE_MAX:
        inner = (values[:-1] + values[1:]) / 2
    else:
        inner = np.unique(_sorted_quantiles(ref, np.linspace(0, 1, _PSI_BINS + 1)[1:-1]))
    return np.concatenate([[-np.inf], inner, [np.inf]])


def _sorted_quantiles(ordered: np.ndarray, q: np.ndarray) -> np.ndarray:
    # np.quantile's "linear" rule, as an index lookup on already-sorted data.
    pos = np.asarray(q) * (len(ordered) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _sorted_histogram(ordered: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # np.histogram's [a, b) bins, on sorted data: one binary search per edge.
    return np.diff(np.concatenate([[0], np.searchsorted(ordered, edges[1:-1], side="left"), [len(ordered)]]))


def _thin(ordered: np.ndarray, k: int) -> np.ndarray:
    """At most k evenly spaced order statistics: the empirical distribution to within 1/k."""
    if len(ordered) <= k:
        return ordered
    return ordered[np.linspace(0, len(ordered) - 1, k).round().astype(int)]


def _numeric(name, ref, cur, t: FeatureThresholds, out: FeatureDrift) -> None:
    # scipy is imported where a statistic is computed: the io worker imports this module at start
    # and would otherwise hold scipy in memory while idle (issue 10).
    from scipy.stats import ks_2samp, wasserstein_distance

    out.kind = "numeric"
    if len(ref) == 0 or len(cur) == 0:
        return
    ref, cur = np.sort(ref), np.sort(cur)
    edges = numeric_bins(ref)
    out.psi = psi(_shares(_sorted_histogram(ref, edges)), _shares(_sorted_histogram(cur, edges)))
    ref_k, cur_k = _thin(ref, t.max_sample), _thin(cur, t.max_sample)
    # scipy's exact p-value (its "auto" below 10k rows) gives up with a warning on tied data; the
    # asymptotic one is accurate from a few hundred rows per side.
    ks = ks_2samp(ref_k, cur_k, method="asymp" if min(len(ref_k), len(cur_k)) >= _KS_EXACT_BELOW else "auto")
    out.ks_statistic, out.ks_pvalue = float(ks.statistic), float(ks.pvalue)
    distance = float(wasserstein_distance(ref_k, cur_k))
    std = float(np.std(ref))
    out.wasserstein_normed = distance / std if std > 0 else (0.0 if distance == 0 else _FAR)
    _grade(out, "psi", out.psi, t.psi_warning, t.psi_critical)
    _grade(out, "wasserstein", out.wasserstein_normed, t.wasserstein_warning, t.wasserstein_critical)
    if out.ks_pvalue < t.ks_alpha:
        _grade(out, "ks", out.ks_statistic, t.ks_warning, t.ks_critical)


def _categorical(name, ref: pd.Series, cur: pd.Series, t: FeatureThresholds, out: FeatureDrift) -> None:
    from scipy.spatial.distance import jensenshannon

    out.kind = "categorical"
    if len(ref) == 0 or len(cur) == 0:
        return
    rc, cc = ref.astype(str).value_counts(), cur.astype(str).value_counts()
    cats = rc.index.union(cc.index)
    p = _shares(rc.reindex(cats, fill_value=0).to_numpy(float))
    q = _shares(cc.reindex(cats, fill_value=0).to_numpy(float))
    out.psi = psi(p, q)
    out.jensen_shannon = float(jensenshannon(p, q, base=2))
    _grade(out, "psi", out.psi, t.psi_warning, t.psi_critical)
    _grade(out, "jensen_shannon", out.jensen_shannon, t.js_warning, t.js_critical)


def _grade(out: FeatureDrift, stat: str, value: float, warning: float, critical: float) -> None:
    level = Level.critical if value >= critical else Level.warning if value >= warning else Level.none
    if level != Level.none:
        out.reasons.append(f"{stat} {value:.4g} >= {critical if level == Level.critical else warning:g}")
        out.level = worst([out.level, level])


def compare_feature(name: str, reference: pd.Series, current: pd.Series,
                    thresholds: FeatureThresholds) -> FeatureDrift:
    ref_null, cur_null = reference.isna(), current.isna()
    out = FeatureDrift(
        feature=name, kind="numeric", reference_count=int((~ref_null).sum()),
        current_count=int((~cur_null).sum()),
        null_share_reference=float(ref_null.mean()) if len(reference) else 0.0,
        null_share_current=float(cur_null.mean()) if len(current) else 0.0)
    ref, cur = reference[~ref_null], current[~cur_null]
    if _is_categorical(reference) or _is_categorical(current):
        _categorical(name, ref, cur, thresholds, out)
    else:
        _numeric(name, ref.to_numpy(float), cur.to_numpy(float), thresholds, out)
    _grade(out, "null_share_change", abs(out.null_share_current - out.null_share_reference),
           thresholds.null_warning, thresholds.null_critical)
    return out


def compare(reference: pd.DataFrame, current: pd.DataFrame, thresholds: DriftThresholds | None = None,
            features: list[str] | None = None) -> DriftResult:
    """Per-feature drift of ``current`` against ``reference``; the overall level is the worst feature's.

    ``features`` defaults to the columns both frames share, in the reference's order.
    """
    thresholds = thresholds or DriftThresholds()
    names = features if features is not None else [c for c in reference.columns if c in current.columns]
    missing = [n for n in names if n not in reference.columns or n not in current.columns]
    if missing:
        raise ValueError(f"features missing from a frame: {missing}")
    results = [compare_feature(n, reference[n], current[n], thresholds.for_feature(n)) for n in names]
    return DriftResult(level=worst(r.level for r in results), features=results, thresholds=thresholds)
