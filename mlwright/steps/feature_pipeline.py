"""The steps of FeaturePipeline, in run order. Names carry a ``features_`` prefix: activity names
are global per queue, and patient-risk already has ``compute_features``/``validate_features``."""

from __future__ import annotations

from mlwright import policies
from mlwright.contracts import feature_pipeline as c
from mlwright.queues import Resource
from mlwright.steps import Step

IO, CPU = Resource.IO, Resource.CPU
READ, WRITE, COMPUTE = policies.IO_READ, policies.STORE_WRITE, policies.COMPUTE
# Store writes of a whole feature table can take longer than a small STORE_WRITE allows; they heartbeat.
BULK_WRITE = policies.IO_READ

EXTRACT = Step("features_extract", "Extract sources", c.FeatureStepInput, c.SourceTables, IO, READ)
VALIDATE = Step("features_validate_sources", "Validate sources", c.TablesInput, c.SourceTables, CPU, COMPUTE)
COMPUTE_FEATURES = Step("features_compute", "Compute features", c.TablesInput, c.FeatureFrame, CPU, COMPUTE)
CHECK = Step("features_validate", "Validate features", c.FrameInput, c.FeatureCheck, CPU, COMPUTE)
OFFLINE = Step("features_write_offline", "Write offline store", c.FrameInput, c.StoreWrite, IO, BULK_WRITE)
ONLINE = Step("features_write_online", "Write online store", c.FrameInput, c.StoreWrite, IO, BULK_WRITE)
STATS = Step("features_statistics", "Feature statistics", c.FrameInput, c.StatsWritten, CPU, COMPUTE)
DRIFT = Step("features_drift", "Drift vs reference", c.DriftInput, c.DriftSummary, CPU, COMPUTE)
# A delivery to a system outside our control: heartbeats, so a worker lost mid-POST is noticed in
# seconds (not after a store write's 60 s) and the retry, deduplicated by its key, goes out soon.
ALERT = Step("features_drift_alert", "Alert on drift", c.DriftAlertInput, c.DriftAlertResult, IO, READ)
# Last, so only a run that finished moves the marks; not run by backfills (see mlwright/features/incremental.py).
WATERMARK = Step("features_advance_watermark", "Advance source watermarks", c.WatermarkInput, c.WatermarkResult,
                 IO, WRITE)

STEPS: tuple[Step, ...] = (EXTRACT, VALIDATE, COMPUTE_FEATURES, CHECK, OFFLINE, ONLINE, STATS, DRIFT, ALERT, WATERMARK)
ALL = STEPS
