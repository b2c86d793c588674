"""Tracing set up once per process; the Temporal interceptor on the client carries the context.

Why ``TracingInterceptor`` and not the experimental ``OpenTelemetryPlugin``: the interceptor is
the SDK's stable API; one trace spans client start → workflow → every activity either way.
"""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource as OtelResource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from mlwright.settings import Settings

_configured = False


def setup_tracing(settings: Settings, service: str) -> None:
    """Install the process's TracerProvider (exporting over OTLP when an endpoint is set)."""
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=OtelResource.create({"service.name": service}))
    if settings.otlp_endpoint:
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        except ImportError as e:
            raise RuntimeError("MLWRIGHT_OTLP_ENDPOINT is set: pip install 'mlwright[otlp]'") from e
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
    trace.set_tracer_provider(provider)
    _configured = True


def setup_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
