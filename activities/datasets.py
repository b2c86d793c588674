"""Extraction and the data-quality gate."""

from __future__ import annotations

import json

from temporalio import activity

from activities.deps import ActivityDeps
from mlwright.contracts import training_steps as c
from mlwright.contracts.refs import DatasetRef
from mlwright.errors import DataQualityFailed
from mlwright.ml import data, quality
from mlwright.steps import training as steps
from mlwright.store.db import session_scope
from mlwright.store.reports import save_quality_report


class DatasetActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @steps.EXTRACT.defn
    def extract_dataset(self, inp: c.ExtractInput) -> DatasetRef:
        """Snapshot the source table into the artifact store.

        Reads only what the deployment's data sources allow (``mlwright.ml.data_access``): a file
        inside a data root, or one SELECT on a read-only connection. Idempotent: the snapshot is
        content-addressed, so a retry writes nothing new. Retry class IO_READ. A source outside
        the boundary, a missing file, an unreadable format or an absent target column is
        non-retryable.
        """
        frame = data.load_table(inp.dataset, self.deps.data)
        data.require_column(frame, inp.dataset.target, "dataset.target")
        ref = self.deps.artifacts.put_frame(frame)
        activity.logger.info("extracted %s rows x %s columns (sha256 %s)", ref.rows, len(ref.columns),
                             ref.artifact.sha256[:12])
        return ref

    @steps.VALIDATE.defn
    def validate_data_quality(self, inp: c.QualityInput) -> c.QualityReport:
        """Run the quality checks, keep the report (artifact + table row), fail on the first failed check.

        Idempotent: one report per run (keyed by run and step). A failed check is non-retryable:
        the same data would fail again.
        """
        frame = self.deps.artifacts.get_frame(inp.data)
        checks = quality.check_quality(frame, inp.target, inp.task, inp.quality)
        failed = quality.first_failure(checks)
        body = {"passed": failed is None, "rows": len(frame), "checks": [x.model_dump() for x in checks]}
        stored = self.deps.artifacts.put_bytes(json.dumps(body, indent=1).encode(), ".json")
        with session_scope(self.deps.engine) as session:
            save_quality_report(session, run_key=inp.run.key(steps.VALIDATE.name), passed=failed is None,
                                data_sha256=inp.data.artifact.sha256, report=body)
        if failed is not None:
            raise DataQualityFailed(quality.describe(failed), check=failed.name, column=failed.column,
                                    report_uri=stored.uri)
        return c.QualityReport(passed=True, rows=len(frame), checks=checks, report=stored)
