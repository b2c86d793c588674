"""One run, one trace: the client's interceptor links start, workflow and every activity."""

from __future__ import annotations

import uuid

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from mlwright.contracts.training import TrainingInput, TrainingResult
from tests.conftest import running_workers


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # The OTel global may be set once per process; reset it around the test so others are untouched.
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace.set_tracer_provider(provider)
    yield exporter
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


async def test_a_run_is_one_trace_across_workers(dev_env, settings, deps, breast_cancer_csv, spans):
    inp = TrainingInput.model_validate({"model_name": "bc", "dataset": {"uri": str(breast_cancer_csv),
                                        "target": "target"}, "quality": {"min_rows": 10**6}})
    async with running_workers(dev_env.client, settings, deps) as queues:
        handle = await dev_env.client.start_workflow("TrainingPipeline", inp, id=f"trace-{uuid.uuid4()}",
                                                     task_queue=queues.pipelines, result_type=TrainingResult)
        with pytest.raises(Exception):  # noqa: B017 - the quality gate fails the run by design
            await handle.result()
    finished = spans.get_finished_spans()
    names = {s.name for s in finished}
    assert {"StartWorkflow:TrainingPipeline", "RunWorkflow:TrainingPipeline",
            "RunActivity:extract_dataset", "RunActivity:validate_data_quality"} <= names
    assert len({s.context.trace_id for s in finished}) == 1
