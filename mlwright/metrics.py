"""Prometheus metrics of a worker process: the Temporal SDK's and mlwright's, on one endpoint.

Why the SDK's meter rather than ``prometheus_client``: the SDK's metrics (workflow completions
and failures, task latencies, slots, poller counts) are exported only by its Rust core, from the
``Runtime`` of the process. Putting mlwright's counters on that same ``Runtime.metric_meter``
means one port and one scrape per worker, no second HTTP server or dependency, and workflow-side
counters (operator actions) through ``workflow.metric_meter()``, which the SDK silences while a
run replays, so a replay never counts an action twice.

One ``Runtime`` per process: ``setup_metrics`` makes it the default before the first client
connects (every client and worker of the process then reports through it); calling it again is a
no-op, and calling it after another Runtime became the default is refused.

Port: ``MLWRIGHT_METRICS_PORT`` per process. ``mlwright dev``/``up`` run one worker process per
resource class and give each ``base + index`` in (pipelines, io, cpu, training): base 9464 serves
pipelines on 9464, io on 9465, cpu on 9466, training on 9467. Path ``/metrics``; the listen address
is ``MLWRIGHT_METRICS_BIND_HOST`` (default 127.0.0.1).
"""

from __future__ import annotations

import functools
from typing import Any

from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from mlwright.settings import Settings

STEP_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600]
_meter: MetricMeter | None = None


def port_for(base: int, index: int) -> int:
    """The port of a process's ``index``-th resource class (see the module docstring)."""
    return base + index


def setup_metrics(settings: Settings) -> Runtime | None:
    """The process's Runtime exporting to Prometheus, made the default; None when metrics are off."""
    global _meter
    if settings.metrics_port is None:
        return None
    if _meter is not None:
        return Runtime.default()
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
        bind_address=f"{settings.metrics_bind_host}:{settings.metrics_port}", durations_as_seconds=True,
        histogram_bucket_overrides={"mlwright_step_duration": STEP_BUCKETS_S})))
    Runtime.set_default(runtime, error_if_already_set=True)
    _meter = runtime.metric_meter
    return runtime


@functools.cache
def _instruments() -> dict[str, Any]:
    assert _meter is not None
    return {
        "duration": _meter.create_histogram_float(
            "mlwright_step_duration", "Wall time of one step attempt.", "s"),
        "attempts": _meter.create_counter("mlwright_step_attempts", "Step attempts, by outcome."),
        "retries": _meter.create_counter("mlwright_step_retries", "Step attempts after the first."),
        "rows": _meter.create_counter("mlwright_rows_processed", "Rows a completed step reported it produced."),
        "pages": _meter.create_counter("mlwright_pages_sent", "Alerts and on-call pages a step delivered."),
    }


def observe_attempt(row: dict[str, Any], result: Any) -> None:
    """Count one ledger row (see mlwright.step_ledger); nothing when metrics are off."""
    if _meter is None:
        return
    m = _instruments()
    labels = {"pipeline": row["pipeline"], "step": row["step"], "resource": row["resource"]}
    m["duration"].record(row["wall_s"], {**labels, "outcome": row["outcome"]})
    m["attempts"].add(1, {**labels, "outcome": row["outcome"]})
    if row["attempt"] > 1:
        m["retries"].add(1, labels)
    if row["outcome"] == "completed" and row["rows_out"]:
        m["rows"].add(row["rows_out"], labels)
    sent = getattr(result, "sent", None)
    if isinstance(sent, int) and not isinstance(sent, bool) and sent > 0:
        m["pages"].add(sent, labels)
