"""Tracing wired once per process: one trace per run, however the run was started.

Why the (experimental) ``OpenTelemetryPlugin`` machinery and not ``TracingInterceptor``:
a run started by ``temporal workflow start``, a Temporal Schedule or the Web UI carries no client
span. ``TracingInterceptor(always_create_workflow_spans=True)`` then creates a parentless
workflow span, and since it keeps no workflow span as the context of later workflow tasks, every
``StartActivity`` span it emits afterwards is a new root with a random trace id: each step lands in
a trace of its own (measured with the real CLI on TrainingPipeline: a run's first 7 activities
came out as 8 traces, the workflow span alone in one). Its
workflow spans also have zero duration and new random ids after a worker restart replays the run.
The plugin's interceptor instead keeps one real ``RunWorkflow`` span open for the whole run with
ids drawn from the workflow's deterministic random (``create_tracer_provider``): a replay on another
worker rebuilds the same span ids, so every activity, retry and ``retry_step`` resumption of a run
is a child of the same span in one trace, and the workflow span has its true duration. The cost:
the API is marked experimental, and the workflow span is exported when the run closes (a run that
is still waiting shows its steps under a not-yet-exported root; ``mlwright trace`` draws them).

Child workflows continue their parent's trace (the plugin propagates the context in the start
headers): a child is one step of the parent's run, and one waterfall per run is the point. A run
that continues-as-new stays in its trace for the same reason. Queries and updates (approve,
retry_step) are spans of their sender's trace; the steps an update lets the run take are the run's.

The trace id is recorded on the run as the memo ``mlwright_trace_id`` (workflows/_visibility.py),
and every span carries ``temporalWorkflowID``: each leads to the other.
"""

from __future__ import annotations

import dataclasses
import logging

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource as OtelResource
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from temporalio.contrib.opentelemetry import (
    OpenTelemetryInterceptor,
    ReplaySafeTracerProvider,
    create_tracer_provider,
)
from temporalio.plugin import SimplePlugin
from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from mlwright.settings import Settings

_configured = False


class _EvictedRunFilter(logging.Filter):
    """Drops OpenTelemetry's "Failed to detach context" traceback for an evicted workflow.

    A run evicted from a worker's cache (it waits, the cache is full, the worker stops) has its
    coroutine closed wherever garbage collection runs; the open workflow span's context token then
    belongs to another context. Nothing is lost (the span is rebuilt on replay, ended once), so the
    traceback would only alarm whoever reads the worker log, once per evicted run.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, ValueError) and isinstance(error.__context__, GeneratorExit))


_EVICTED_RUN_FILTER = _EvictedRunFilter()


class _TracerPerModule(ReplaySafeTracerProvider):
    """Hands out one tracer per instrumenting module instead of a new one per call.

    Temporal's interceptors call ``get_tracer(__name__)`` for every activity attempt and workflow
    operation, and the SDK provider sets up a warnings filter on each call: about 2% of the worker's
    time with the GIL in the profile of bench/step_profile.py. A tracer holds no state of its own.
    """

    def __init__(self, base: ReplaySafeTracerProvider) -> None:
        super().__init__(base._tracer_provider, base._id_generator)
        self._tracers: dict[tuple, trace.Tracer] = {}

    def get_tracer(self, instrumenting_module_name, instrumenting_library_version=None,  # type: ignore[no-untyped-def]
                   schema_url=None, attributes=None):
        if attributes:
            return super().get_tracer(instrumenting_module_name, instrumenting_library_version, schema_url, attributes)
        key = (instrumenting_module_name, instrumenting_library_version, schema_url)
        tracer = self._tracers.get(key)
        if tracer is None:
            tracer = self._tracers.setdefault(key, super().get_tracer(*key))
        return tracer


def tracer_provider(service: str | None = None) -> ReplaySafeTracerProvider:
    """The process's provider, installed as the OpenTelemetry global on first use.

    Workflow workers need a replay-safe global provider (deterministic span ids); until
    ``setup_tracing`` adds exporters its spans go nowhere, so installing it anywhere is harmless.
    """
    current = trace.get_tracer_provider()
    if isinstance(current, ReplaySafeTracerProvider):
        return current
    resource = OtelResource.create({"service.name": service}) if service else None
    trace.set_tracer_provider(_TracerPerModule(create_tracer_provider(resource=resource)))
    current = trace.get_tracer_provider()
    if not isinstance(current, ReplaySafeTracerProvider):
        raise RuntimeError(f"another library installed the OpenTelemetry TracerProvider ({type(current).__name__}) "
                           "before mlwright could install its replay-safe one; set up mlwright's tracing first")
    return current


def plugin() -> SimplePlugin:
    """The client plugin every mlwright client and worker shares (see the module docstring)."""
    from mlwright.step_spans import AttemptAttributes

    logging.getLogger("opentelemetry.context").addFilter(_EVICTED_RUN_FILTER)  # once: same instance

    class _Interceptor(OpenTelemetryInterceptor):
        def workflow_interceptor_class(self, input):  # type: ignore[no-untyped-def]
            tracer_provider()  # the base class refuses a provider that is not replay-safe
            return super().workflow_interceptor_class(input)

        def intercept_activity(self, next):  # type: ignore[no-untyped-def]
            # Right inside the activity span, whatever other interceptors a worker adds.
            return super().intercept_activity(AttemptAttributes(next))

    def runner(given: WorkflowRunner | None) -> WorkflowRunner:
        if isinstance(given, SandboxedWorkflowRunner):
            return dataclasses.replace(
                given, restrictions=given.restrictions.with_passthrough_modules("opentelemetry"))
        if given is None:
            raise ValueError("mlwright tracing: the worker has no workflow runner")
        return given

    return SimplePlugin("mlwright.tracing", interceptors=[_Interceptor(add_temporal_spans=True)],
                        workflow_runner=runner)


def setup_tracing(settings: Settings, service: str) -> None:
    """Install the provider and its exporters: the local span store and/or OTLP, per settings."""
    global _configured
    if _configured:
        return
    provider = tracer_provider(service)
    if settings.trace_store:
        from mlwright.span_store import SpanStoreExporter, open_span_store

        store = open_span_store(settings)
        # A short delay: `mlwright trace` right after a run should see its last spans.
        provider.add_span_processor(BatchSpanProcessor(SpanStoreExporter(store), schedule_delay_millis=500))
    if settings.otlp_endpoint:
        provider.add_span_processor(BatchSpanProcessor(otlp_exporter(settings)))
    _configured = True


def otlp_exporter(settings: Settings) -> SpanExporter:
    try:
        if settings.otlp_protocol == "http":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

            return Http(endpoint=settings.otlp_endpoint)
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

        return Grpc(endpoint=settings.otlp_endpoint)
    except ImportError as e:
        raise RuntimeError(f"MLWRIGHT_OTLP_ENDPOINT is set (protocol {settings.otlp_protocol}): "
                           "pip install 'mlwright[otlp]'") from e


def flush() -> None:
    """Export what is buffered (before a worker process exits)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, ReplaySafeTracerProvider):
        provider.force_flush(5000)

