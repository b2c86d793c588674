"""The local span store: private, bounded, and read back as the waterfall `mlwright trace` prints."""

from __future__ import annotations

import stat

import pytest
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from mlwright import telemetry
from mlwright.settings import Settings
from mlwright.span_store import SpanStore, SpanStoreExporter
from mlwright.waterfall import render
from tests.tracing_helpers import collected_spans


def write_run(store: SpanStore, workflow_id: str, steps: int = 2) -> None:
    """A workflow span with ``steps`` activity spans (the second one failed) and a phase in the first."""
    with collected_spans(SpanStoreExporter(store)):
        tracer = telemetry.tracer_provider().get_tracer("test")
        with tracer.start_as_current_span("RunWorkflow:Wf", attributes={"temporalWorkflowID": workflow_id}):
            for n in range(steps):
                with tracer.start_as_current_span(f"StartActivity:step_{n}",
                                                  attributes={"temporalWorkflowID": workflow_id}):
                    with tracer.start_as_current_span(f"RunActivity:step_{n}", attributes={
                            "temporalWorkflowID": workflow_id, "mlwright.attempt": 1,
                            "mlwright.queue": "q-cpu"}) as span:
                        if n == 0:
                            with tracer.start_as_current_span("phase:fit"):
                                pass
                        if n == 1:
                            span.set_status(Status(StatusCode.ERROR, "ValueError"))


def test_the_store_file_is_private_to_its_owner(tmp_path):
    store = SpanStore(tmp_path / "home" / "traces.db")
    write_run(store, "wf-1")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.count() == 6


def test_a_trace_reads_back_as_a_waterfall_with_steps_queues_attempts_and_status(tmp_path):
    store = SpanStore(tmp_path / "traces.db")
    write_run(store, "wf-1", steps=3)
    write_run(store, "wf-2")
    [trace_id] = store.trace_ids_of("wf-1")
    text = render(store.spans_of(trace_id))
    rows = text.splitlines()[1:]
    assert [r.split("|")[0].split()[-1] for r in rows] == ["Wf", "step_0", "fit", "step_1", "step_2"]  # scheduling folded
    assert "q-cpu" in rows[1] and " 1  " in rows[1] and "ok" in rows[1]
    assert "error" in rows[3] and "x" in rows[3].split("|")[1]
    assert len(render(store.spans_of(trace_id), scheduling=True).splitlines()) == 1 + 8


def test_the_store_drops_the_oldest_spans_beyond_its_bounds(tmp_path):
    store = SpanStore(tmp_path / "traces.db", max_spans=100)
    for n in range(12):
        write_run(store, f"wf-{n}", steps=4)  # 10 spans each
    store.prune()
    assert store.count() == 100
    assert store.trace_ids_of("wf-0") == [] and len(store.trace_ids_of("wf-11")) == 1
    SpanStore(store.path, max_age_s=3600).prune()
    assert store.count() == 100  # none is an hour old
    SpanStore(store.path, max_age_s=-1).prune()  # a cutoff in the future: every span is too old
    assert store.count() == 0


def test_otlp_over_http_is_chosen_by_a_setting_and_a_missing_exporter_is_named(tmp_path):
    settings = Settings(home=tmp_path, otlp_endpoint="http://127.0.0.1:4318/v1/traces", otlp_protocol="http")
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter as http
    except ImportError:
        with pytest.raises(RuntimeError, match=r"protocol http\): pip install 'mlwright\[otlp\]'"):
            telemetry.otlp_exporter(settings)
    else:
        assert isinstance(telemetry.otlp_exporter(settings), http.OTLPSpanExporter)
    with pytest.raises(ValueError, match="otlp_protocol"):
        Settings(home=tmp_path, otlp_protocol="udp")


def test_a_run_still_open_draws_its_steps_without_the_workflow_span(tmp_path):
    from mlwright.waterfall import summary

    store = SpanStore(tmp_path / "traces.db")
    with collected_spans(SpanStoreExporter(store)):
        tracer = telemetry.tracer_provider().get_tracer("test")
        run = tracer.start_span("RunWorkflow:Wf", attributes={"temporalWorkflowID": "wf-open"})  # never ended
        with trace.use_span(run, end_on_exit=False):
            with tracer.start_as_current_span("RunActivity:step_0", attributes={"temporalWorkflowID": "wf-open"}):
                pass
    [trace_id] = store.trace_ids_of("wf-open")
    spans = store.spans_of(trace_id)
    assert [s.name for s in spans] == ["RunActivity:step_0"]
    assert "run still open" in summary(spans, "wf-open")
    assert render(spans).splitlines()[1].split("|")[0].split()[-1] == "step_0"
