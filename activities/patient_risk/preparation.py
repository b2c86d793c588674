"""Steps 9-12: merge by patient, the data-quality gate, the 47 features and their validation."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from temporalio import activity

from activities.feature_store.stores import feature_root
from activities.patient_risk.deps import PatientRiskDeps
from mlwright.contracts import patient_risk as c
from mlwright.errors import DataQualityFailed
from mlwright.features import handoff
from mlwright.features.compute import compute_features_one_table_at_a_time, table_loader
from mlwright.patient_risk import features, validation
from mlwright.steps.patient_risk import BY_NAME
from mlwright.store import runs
from mlwright.store.db import session_scope

EVENT_TABLES = {"encounters": "ehr", "diagnoses": "ehr", "labs": "labs", "claims": "claims", "fills": "pharmacy"}


class PreparationActivities:
    def __init__(self, deps: PatientRiskDeps) -> None:
        self.deps = deps
        self.store = deps.base.artifacts

    @BY_NAME["merge_by_patient"].defn
    def merge_by_patient(self, inp: c.MergeInput) -> c.MergedSet:
        """Key every source to the EHR's patients; rows naming no known patient are dropped and counted.

        Only the patient ids are read to decide; a table with no orphan row is passed on as the
        source's own artifact (the same bytes a copy would have), so the usual case reads and writes
        no table whole: at a million patients that copy took half a minute.
        """
        tables = {name: ref for s in inp.sources for name, ref in s.tables.items()}
        known = self._patient_ids(tables["patients"])
        merged, orphans = {"patients": tables["patients"]}, {}
        for name in EVENT_TABLES:
            ref = tables[name]
            # Arrow's is_in: ~25x faster than Series.isin on pandas' Arrow-backed strings.
            keep = pc.is_in(self._patient_ids(ref), value_set=known).to_numpy(zero_copy_only=False)
            orphans[name] = round(float(1 - keep.mean()), 6) if len(keep) else 0.0
            if keep.all():
                merged[name] = ref
            else:
                frame = self.store.get_frame(ref)
                merged[name] = self.store.put_frame(frame[keep].reset_index(drop=True))
        return c.MergedSet(tables=merged, patients=len(known), orphans=orphans)

    def _patient_ids(self, ref) -> pa.Array:
        return pa.array(self.store.get_frame(ref, columns=["patient_id"])["patient_id"])

    @BY_NAME["quality_gate"].defn
    def quality_gate(self, inp: c.MergedInput) -> c.GateReport:
        """Enough patients, few orphan rows; a failure names the check and the source."""
        options = BY_NAME["quality_gate"].options_of(inp).model_dump()
        report = validation.quality_gate(inp.merged.patients, inp.merged.orphans, options)
        return c.GateReport(passed=True, checks=report.checks)

    @BY_NAME["compute_features"].defn
    def compute_features(self, inp: c.ComputeFeaturesInput) -> c.FeatureTable:
        """The 47 catalog features, one row per patient, as of the run date: read from the offline
        store when FeaturePipeline stored them for the date (and the run was started by it), else
        computed here with the function the store uses, so both give the same table."""
        day = date.fromisoformat(inp.run.run_date)
        if inp.store is not None:
            patients = self.store.get_frame(inp.merged.tables["patients"])["patient_id"]
            table, why = handoff.patient_features(feature_root(self.deps.settings), inp.store.feature_set, day,
                                                  patients)
            if table is not None:
                return c.FeatureTable(data=self.store.put_frame(table.reset_index()), patients=len(table),
                                      source="feature_store")
            activity.logger.warning("features of %s not used (%s): computing them", inp.store.upstream_workflow_id,
                                    why)
        table = compute_features_one_table_at_a_time(table_loader(self.store, inp.merged.tables), day)
        return c.FeatureTable(data=self.store.put_frame(table.reset_index()), patients=len(table))

    @BY_NAME["validate_features"].defn
    def validate_features(self, inp: c.FeaturesStepInput) -> c.FeatureReport:
        """Ranges and null rates (hard checks), and drift against the last run (reported, PSI)."""
        options = BY_NAME["validate_features"].options_of(inp)
        table = self.store.get_frame(inp.features.data).set_index("patient_id")
        out_of_range = {f.name: int(((table[f.name] < f.low) | (table[f.name] > f.high)).sum())
                        for f in features.CATALOG}
        bad = {k: v for k, v in out_of_range.items() if v}
        if bad:
            raise DataQualityFailed(f"features out of their catalog range: {bad}", check="range", columns=sorted(bad))
        nulls = table.isna().mean()
        limit = options.max_null_ratio
        if nulls.max() > limit:
            raise DataQualityFailed(f"feature {nulls.idxmax()!r} is {nulls.max():.0%} null (limit {limit:.0%})",
                                    check="null_ratio", column=nulls.idxmax())
        stats = {name: _histogram(table[name]) for name in features.FEATURE_NAMES}
        run_key = inp.run.key("features")
        with session_scope(self.deps.base.engine) as session:
            previous = runs.previous_stats(session, run_date=inp.run.run_date, run_key=run_key)
            runs.save_feature_stats(session, run_key=run_key, run_date=inp.run.run_date, stats=stats)
            reference = (previous.stats, previous.run_date) if previous else (None, None)
        drift = {name: _psi(reference[0][name], table[name]) for name in features.FEATURE_NAMES} if reference[0] else {}
        drifted = sorted(k for k, v in drift.items() if v > options.psi_threshold)
        if drifted:
            activity.logger.warning("feature drift vs %s: %s", reference[1], {k: drift[k] for k in drifted})
        return c.FeatureReport(max_null_ratio=round(float(nulls.max()), 4), out_of_range=out_of_range, drift=drift,
                               drifted=drifted, previous_run=reference[1])


def _histogram(values: pd.Series) -> dict:
    present = values.dropna().to_numpy(dtype=float)
    edges = np.unique(np.quantile(present, np.linspace(0, 1, 11))) if len(present) else np.array([0.0])
    return {"edges": edges.tolist(), "shares": _shares(present, edges), "null_share": float(values.isna().mean())}


def _shares(values: np.ndarray, edges: np.ndarray) -> list[float]:
    bins = np.concatenate([[-np.inf], edges[1:-1], [np.inf]]) if len(edges) > 2 else np.array([-np.inf, np.inf])
    counts, _ = np.histogram(values, bins=bins)
    return (counts / max(len(values), 1)).tolist()


def _psi(reference: dict, current: pd.Series) -> float:
    """Population stability index over the reference run's deciles (plus the null share)."""
    expected = np.array([*reference["shares"], reference["null_share"]]) + 1e-4
    present = current.dropna().to_numpy(dtype=float)
    actual = np.array([*_shares(present, np.array(reference["edges"])), float(current.isna().mean())]) + 1e-4
    if len(actual) != len(expected):
        return 0.0
    return round(float(np.sum((actual - expected) * np.log(actual / expected))), 4)
