"""FeaturePipeline steps 1-4: extract the four sources as of the run date, validate them with the
patient-risk rules, compute the 47 features (vectorised) and check them. Every result is a
content-addressed artifact reference, so a retried step writes nothing new."""

from __future__ import annotations

from datetime import date

import pandas as pd
from temporalio import activity

from activities.patient_risk.deps import PatientRiskDeps
from mlwright.contracts import feature_pipeline as c
from mlwright.contracts import patient_risk as prc
from mlwright.contracts.refs import DatasetRef
from mlwright.errors import ArtifactIntegrityError, DataQualityFailed
from mlwright.features import incremental, watermark
from mlwright.features.compute import compute_features_one_table_at_a_time, table_loader
from mlwright.heartbeat import check_cancelled, phase
from mlwright.patient_risk import features, validation
from mlwright.steps import feature_pipeline as s
from mlwright.store.db import session_scope

EVENT_TABLES = ("encounters", "diagnoses", "labs", "claims", "fills")


def _day(run: c.FeatureRun) -> date:
    return date.fromisoformat(run.run_date)


def _options(step: str) -> dict:
    # The same defaults patient-risk validates with: one definition of a clean source.
    return prc.options_model(step)().model_dump()


class FeatureComputeActivities:
    def __init__(self, deps: PatientRiskDeps) -> None:
        self.deps = deps
        self.store = deps.base.artifacts

    def _refs(self, tables: dict[str, pd.DataFrame]) -> c.SourceTables:
        refs = {name: self.store.put_frame(frame.reset_index(drop=True)) for name, frame in tables.items()}
        return c.SourceTables(tables=refs, rows={k: v.rows for k, v in refs.items()})

    def _frames(self, tables: c.SourceTables) -> dict[str, pd.DataFrame]:
        return {name: self.store.get_frame(ref) for name, ref in tables.tables.items()}

    @s.EXTRACT.defn
    def features_extract(self, inp: c.FeatureStepInput) -> c.SourceTables:
        """EHR, 30 days of lab files, 365 days of claims and the pharmacy export (fills recorded by
        the run date), read-only. A source with a usable snapshot is read only after its watermark
        (see mlwright.features.incremental); a backfill reads every source whole."""
        day = _day(inp.run)
        previous = {} if inp.run.backfill else self._previous(inp.run.feature_set, day)
        tables: dict[str, pd.DataFrame] = {}
        read, after, marks = {}, {}, {}
        for spec in incremental.WATERMARKED:
            check_cancelled()
            phase(spec.source)
            prior = previous.get(spec.source)
            if prior is not None:
                got = incremental.read_newer(spec.source, self.deps.sources, day, prior.watermark)
                read[spec.source] = len(got[spec.table])
                got[spec.table] = incremental.merge(spec.table, prior.table, got[spec.table], day)
                after[spec.source] = prior.watermark.isoformat()
            else:
                got = incremental.read_full(spec.source, self.deps.sources, day)
                read[spec.source] = len(got[spec.table])
            tables.update(got)
            mark = incremental.high_water(spec.source, got[spec.table])
            if mark is not None:
                marks[spec.source] = mark.isoformat()
        out = self._refs(tables).model_copy(update={"read": read, "read_after": after, "high_water": marks})
        activity.logger.info("extracted %s (read %s, incremental after %s)", out.rows, read, after)
        return out

    def _previous(self, feature_set: str, day: date) -> dict[str, incremental.Previous]:
        """The window tables of the last successful run that can serve ``day``; a table the artifact
        store no longer holds (or that fails its hash) is left out, so that source is read whole."""
        rows = {}
        with session_scope(self.deps.base.engine) as session:
            for spec in incremental.WATERMARKED:
                row = watermark.window(session, feature_set, spec.source)
                if row is not None and incremental.usable(pd.Timestamp(row.watermark), date.fromisoformat(row.run_date),
                                                          day):
                    rows[spec.source] = row
        found = {}
        for source, row in rows.items():
            try:
                table = self.store.get_frame(DatasetRef.model_validate(row.table))
            except ArtifactIntegrityError as e:
                activity.logger.warning("window table of %s unusable (%s): reading it whole", source, e)
                continue
            found[source] = incremental.Previous(pd.Timestamp(row.watermark), date.fromisoformat(row.run_date), table)
        return found

    @s.VALIDATE.defn
    def features_validate_sources(self, inp: c.TablesInput) -> c.SourceTables:
        """Each source through its patient-risk validation; rows of unknown patients are dropped."""
        day, t = _day(inp.run), self._frames(inp.sources)
        ehr, _ = validation.validate_ehr({k: t[k] for k in ("patients", "encounters", "diagnoses")}, day,
                                         _options("validate_ehr"))
        clean = dict(ehr)
        for name, step, fn in (("labs", "validate_labs", validation.validate_labs),
                               ("claims", "validate_claims", validation.validate_claims),
                               ("fills", "validate_pharmacy", validation.validate_pharmacy)):
            check_cancelled()
            phase(name)
            clean[name], _ = fn(t[name], day, _options(step))
        known = set(clean["patients"]["patient_id"])
        for name in EVENT_TABLES:
            clean[name] = clean[name][clean[name]["patient_id"].isin(known)]
        return self._refs(clean)

    @s.COMPUTE_FEATURES.defn
    def features_compute(self, inp: c.TablesInput) -> c.FeatureFrame:
        """The 47 catalog features, one row per patient, as of the run date."""
        table = compute_features_one_table_at_a_time(table_loader(self.store, inp.sources.tables), _day(inp.run))
        ref = self.store.put_frame(table.reset_index())
        return c.FeatureFrame(data=ref, entities=len(table), features=table.shape[1])

    @s.CHECK.defn
    def features_validate(self, inp: c.FrameInput) -> c.FeatureCheck:
        """Catalog ranges and null ratio are hard checks: a bad table never reaches the stores."""
        table = self.store.get_frame(inp.features.data).set_index("patient_id")
        bad = {f.name: int(((table[f.name] < f.low) | (table[f.name] > f.high)).sum()) for f in features.CATALOG}
        bad = {k: v for k, v in bad.items() if v}
        if bad:
            raise DataQualityFailed(f"features out of their catalog range: {sorted(bad)}", check="range",
                                    columns=sorted(bad))
        nulls = table.isna().mean()
        limit = prc.options_model("validate_features")().max_null_ratio
        if nulls.max() > limit:
            raise DataQualityFailed(f"feature {nulls.idxmax()!r} is {nulls.max():.0%} null (limit {limit:.0%})",
                                    check="null_ratio", column=nulls.idxmax())
        return c.FeatureCheck(max_null_ratio=round(float(nulls.max()), 4), out_of_range=0)
