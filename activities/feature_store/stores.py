"""FeaturePipeline steps 5-8: offline partition, online upsert, statistics and drift, each
idempotent per (feature set, run date): a retry or a second run for the date replaces the
partition with the same rows, upserts the same entities and adds no statistics rows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from temporalio import activity

from activities.patient_risk.deps import PatientRiskDeps
from mlwright.contracts import feature_pipeline as c
from mlwright.errors import InvalidInput
from mlwright.features import offline, pipeline, reference, stats, watermark
from mlwright.features.incremental import WATERMARKED
from mlwright.features.online import OnlineStore, open_online_store
from mlwright.heartbeat import phase
from mlwright.patient_risk import features
from mlwright.steps import feature_pipeline as s
from mlwright.store.db import session_scope


def feature_root(settings) -> Path:
    return Path(settings.feature_store_root or settings.home / "features")


def report_dir(settings, feature_set: str, run_date: str) -> Path:
    return Path(settings.home) / "feature-reports" / feature_set / run_date


def earlier_partition(root: Path, feature_set: str, run_date: date) -> date | None:
    """The latest partition before ``run_date``: drift's reference when the input names none."""
    days = [date.fromisoformat(p.name.removeprefix("date=")) for p in (root / f"feature_set={feature_set}").glob("date=*")
            if (p / "part-0.parquet").exists()]
    earlier = [d for d in days if d < run_date]
    return max(earlier) if earlier else None


class FeatureStoreActivities:
    def __init__(self, deps: PatientRiskDeps) -> None:
        self.deps = deps
        self.root = feature_root(deps.settings)
        self._online: OnlineStore | None = None

    @property
    def online(self) -> OnlineStore:
        if self._online is None:  # opened on first use: a worker that never runs the step needs no Redis
            self._online = open_online_store(self.deps.settings)
        return self._online

    def _keyed(self, inp: c.FrameInput) -> pd.DataFrame:
        table = self.deps.base.artifacts.get_frame(inp.features.data).set_index("patient_id")
        return pipeline.with_keys(table, date.fromisoformat(inp.run.run_date))

    @s.OFFLINE.defn
    def features_write_offline(self, inp: c.FrameInput) -> c.StoreWrite:
        """The run's partition (feature set, date), replaced whole: never appended to."""
        keyed = self._keyed(inp)
        phase(f"writing {len(keyed)} rows")
        path = offline.write(self.root, inp.run.feature_set, date.fromisoformat(inp.run.run_date), keyed)
        return c.StoreWrite(target=str(path), rows=len(keyed))

    @s.ONLINE.defn
    def features_write_online(self, inp: c.FrameInput) -> c.StoreWrite:
        """Latest value per entity; upserts keep one row per entity whatever the retries."""
        keyed = self._keyed(inp)
        phase(f"upserting {len(keyed)} entities")
        self.online.upsert(inp.run.feature_set, keyed)
        return c.StoreWrite(target=type(self.online).__name__, rows=len(keyed))

    @s.STATS.defn
    def features_statistics(self, inp: c.FrameInput) -> c.StatsWritten:
        """Count, nulls, mean, std, quantiles and histogram per feature, stored once per run key."""
        table = self.deps.base.artifacts.get_frame(inp.features.data).set_index("patient_id")
        summaries = stats.summarize(table)
        with session_scope(self.deps.base.engine) as session:
            added = stats.save(session, feature_set=inp.run.feature_set, run_key=inp.run.run_key,
                               run_date=inp.run.run_date, summaries=summaries)
        return c.StatsWritten(features=len(summaries), added=added)

    @s.DRIFT.defn
    def features_drift(self, inp: c.DriftInput) -> c.DriftSummary:
        """PSI, KS, Wasserstein and Jensen-Shannon per feature against the reference (see
        mlwright.features.reference for which), with the report (JSON + HTML) beside the run; no
        reference yet: level none, nothing compared."""
        day = date.fromisoformat(inp.run.run_date)
        where = report_dir(self.deps.settings, inp.run.feature_set, inp.run.run_date)
        kw = {"root": self.root, "feature_set": inp.run.feature_set, "run_date": day, "report_dir": where}
        partition = date.fromisoformat(inp.reference_date) if inp.reference_date else None
        trained = None if partition else self._training_reference(inp)
        if trained is not None:
            result = pipeline.drift_against(trained.frame, label=trained.label, **kw)
            label, partition_used = trained.label, None
        else:
            partition_used = partition or earlier_partition(self.root, inp.run.feature_set, day)
            if partition_used is None:
                activity.logger.info("no reference for %s: drift not measured", inp.run.feature_set)
                return c.DriftSummary(level="none", reference_date=None)
            if not (offline.partition_path(self.root, inp.run.feature_set, partition_used) / "part-0.parquet").exists():
                # Retrying cannot create it: the run fails now, naming the field to change.
                raise InvalidInput("reference_date", f"no partition of {inp.run.feature_set} for {partition_used}")
            result = pipeline.drift(reference_date=partition_used, **kw)
            label = f"partition {partition_used}"
        return c.DriftSummary(level=result.level.value, reference=label,
                              reference_date=partition_used.isoformat() if partition_used else None,
                              drifted=[f.feature for f in result.drifted],
                              critical=[f.feature for f in result.drifted if f.level.value == "critical"],
                              report={"json": str(where / "drift.json"), "html": str(where / "drift.html")})

    def _training_reference(self, inp: c.DriftInput) -> reference.TrainingReference | None:
        names = list(features.FEATURE_NAMES)
        with session_scope(self.deps.base.engine) as session:
            return reference.production_training_data(
                session, self.deps.base.artifacts, feature_set=inp.run.feature_set,
                model_name=inp.reference_model, features=names)

    @s.WATERMARK.defn
    def features_advance_watermark(self, inp: c.WatermarkInput) -> c.WatermarkResult:
        """Each source's watermark to the newest time its tables hold, with the tables as the snapshot
        the next run adds to; forward only, all sources in one transaction (a retry finds them moved)."""
        if inp.run.backfill:
            # Backfills run out of order and several at once; the marks belong to the daily runs.
            raise InvalidInput("run.backfill", "a backfill run never moves the source watermarks")
        advanced, marks = [], {}
        with session_scope(self.deps.base.engine) as session:
            for spec in WATERMARKED:
                mark = inp.sources.high_water.get(spec.source)
                table = inp.sources.tables[spec.table].model_dump(mode="json")
                if watermark.commit(session, feature_set=inp.run.feature_set, source=spec.source,
                                    mark=pd.Timestamp(mark) if mark else None, run_date=inp.run.run_date,
                                    table=table, run_key=inp.run.run_key):
                    advanced.append(spec.source)
                now = watermark.current(session, inp.run.feature_set, spec.source)
                if now is not None:
                    marks[spec.source] = now.isoformat()
        return c.WatermarkResult(advanced=advanced, marks=marks)
