"""Collecting a test's spans: a fresh replay-safe provider as the OpenTelemetry global, then the old one back."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once
from temporalio.contrib.opentelemetry import create_tracer_provider


@contextlib.contextmanager
def collected_spans(*also: SpanExporter) -> Iterator[InMemorySpanExporter]:
    """Spans finished inside the block (also sent to ``also``); create workers inside it."""
    exporter = InMemorySpanExporter()
    provider = create_tracer_provider()
    for target in (exporter, *also):
        provider.add_span_processor(SimpleSpanProcessor(target))
    previous = trace._TRACER_PROVIDER
    # The global may be set once per process (temporalio's tests reset it the same way).
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace.set_tracer_provider(provider)
    try:
        yield exporter
    finally:
        trace._TRACER_PROVIDER_SET_ONCE = Once()
        trace._TRACER_PROVIDER = previous
        if previous is not None:
            trace._TRACER_PROVIDER_SET_ONCE._done = True


def hex_id(value: int) -> str:
    return format(value, "032x")


def of_workflow(spans: tuple[ReadableSpan, ...], workflow_id: str) -> list[ReadableSpan]:
    """Spans naming ``workflow_id`` plus their descendants (phase spans carry no workflow id)."""
    mine = {s.context.span_id for s in spans if (s.attributes or {}).get("temporalWorkflowID") == workflow_id}
    grew = True
    while grew:
        more = {s.context.span_id for s in spans if s.parent and s.parent.span_id in mine} - mine
        grew = bool(more)
        mine |= more
    return [s for s in spans if s.context.span_id in mine]


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    """Names of ``span``'s ancestors among ``spans``, nearest first."""
    by_id = {s.context.span_id: s for s in spans}
    names = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


def span_text(span: ReadableSpan) -> str:
    """Everything a span would show a trace viewer: name, attributes, events, status, resource."""
    parts = [span.name, repr(dict(span.attributes or {})), span.status.description or "",
             repr(dict(span.resource.attributes))]
    parts += [f"{e.name} {dict(e.attributes or {})!r}" for e in span.events]
    parts += [repr(dict(link.attributes or {})) for link in span.links]
    return "\n".join(parts)


def leaks(texts: list[str], secrets: set[str]) -> set[str]:
    """The ``secrets`` that occur in any of ``texts``."""
    blob = "\n".join(texts)
    return {s for s in secrets if s in blob}
