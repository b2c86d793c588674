"""What each worker serves agrees with the step catalog, and workflow code stays clean."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import typing
from pathlib import Path

from temporalio import activity, workflow

from activities.activity import defn_name
from mlwright.queues import Resource
from workers.definitions import STEPS, WORKFLOWS, activities_for, activity_implementations

ROOT = Path(__file__).resolve().parents[2]


SERVICE_CALL_STEPS = {"poll_training_child"}  # issue 7: RetrainingMonitor


def test_the_lazy_stubs_are_async_exactly_where_the_classes_are(deps, settings):
    from workers.definitions import ACTIVITY_CLASSES, ASYNC_STEPS

    assert ASYNC_STEPS == SERVICE_CALL_STEPS
    for resource, classes in ACTIVITY_CLASSES.items():
        for cls in (c.load() for c in classes):
            for step in (s for s in STEPS if s.resource is resource and hasattr(cls, s.name)):
                assert inspect.iscoroutinefunction(getattr(cls, step.name)) == (step.name in ASYNC_STEPS), step.name


def test_every_step_is_served_on_its_queue_with_its_contract(deps, settings):
    served = {r: {defn_name(a): a for a in activities_for(r, deps, settings)} for r in Resource}
    for step in STEPS:
        impl = served[step.resource].get(step.name)
        assert impl is not None, f"{step.name} is not served on {step.resource}"
        hints = typing.get_type_hints(impl)
        params = [p for p in inspect.signature(impl).parameters]
        assert len(params) == 1, f"{step.name} takes {params}: one contract argument only"
        assert hints[params[0]] is step.input and hints["return"] is step.output, step.name
        # Steps that only await the Temporal service (activity.client()) are async by design.
        if step.name not in SERVICE_CALL_STEPS:
            assert not inspect.iscoroutinefunction(impl), f"{step.name}: CPU/blocking work must be a sync activity"
    assert not served[Resource.PIPELINES]


def test_every_step_is_cancelled_only_at_its_safe_points(deps, settings):
    """No step may be interrupted by the SDK's asynchronous in-thread exception (see Step.defn)."""
    for impl in activity_implementations(deps, settings).values():
        definition = activity._Definition.must_from_callable(impl)
        assert definition.no_thread_cancel_exception, f"{definition.name} can be interrupted anywhere"


def test_no_activity_is_registered_twice(deps, settings):
    names = [defn_name(a) for a in activity_implementations(deps, settings).values()]
    assert len(names) == len(set(names)) == len(STEPS)


def test_workflows_have_one_argument_handlers():
    for wf in WORKFLOWS:
        defn = workflow._Definition.must_from_class(wf)
        handlers = [defn.run_fn, *[u.fn for u in defn.updates.values()], *[q.fn for q in defn.queries.values()],
                    *[s.fn for s in defn.signals.values()]]
        for fn in handlers:
            assert len(inspect.signature(fn).parameters) <= 2, f"{wf.__name__}.{fn.__name__}"


def test_workflow_modules_import_no_heavy_or_io_libraries():
    code = ("import sys, workflows.training_pipeline, workflows.patient_risk;"
            "bad = [m for m in ('sklearn', 'pandas', 'sqlalchemy', 'sqlmodel', 'pyarrow', 'activities')"
            " if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"workflow import pulled in {done.stdout}{done.stderr}"


def test_workflow_code_reads_no_clock_randomness_or_files():
    banned = re.compile(r"datetime\.now|time\.time\(|random\.|uuid\.uuid4|open\(|os\.environ")
    for path in (ROOT / "workflows").glob("*.py"):
        hits = [line for line in path.read_text().splitlines() if banned.search(line)]
        assert not hits, f"{path.name}: {hits}"


def test_task_queue_names_live_in_one_module():
    literal = re.compile(r"task_queue\s*=\s*[\"']")
    for path in [*ROOT.glob("mlwright/**/*.py"), *ROOT.glob("workers/*.py"), *ROOT.glob("workflows/*.py")]:
        assert not literal.search(path.read_text()), f"{path}: task queue literal"


def test_activity_defn_names_match_method_names(deps, settings):
    for name, impl in activity_implementations(deps, settings).items():
        assert impl.__name__ == name
        assert activity._Definition.must_from_callable(impl).name == name


def test_fault_injection_fails_the_first_n_executions_of_one_step_only():
    from workers.faults import FaultInjection

    faults = FaultInjection("model_deterioration:2")
    assert [faults.should_fail("model_deterioration") for _ in range(3)] == [True, True, False]
    assert not faults.should_fail("model_acuity")
    always = FaultInjection("write_fhir")
    assert all(always.should_fail("write_fhir") for _ in range(5))


async def test_workers_autoscale_their_pollers_unless_the_setting_is_off(dev_env, settings):
    from temporalio.worker import PollerBehaviorAutoscaling, PollerBehaviorSimpleMaximum

    from mlwright.queues import QueueSet
    from workers.definitions import configure_worker

    @activity.defn(name="poller_probe")
    def probe(_: str) -> str:
        return ""

    for autoscaling, expected in ((True, PollerBehaviorAutoscaling), (False, PollerBehaviorSimpleMaximum)):
        s = settings.model_copy(update={"poller_autoscaling": autoscaling})
        queues = QueueSet(f"{settings.task_queue_prefix}{autoscaling}-")  # one worker per queue and process
        pipelines, _ = configure_worker(dev_env.client, Resource.PIPELINES, s, queues, workflows=WORKFLOWS)
        cpu, executor = configure_worker(dev_env.client, Resource.CPU, s, queues, activities=[probe])
        executor.shutdown()
        assert isinstance(pipelines.config()["workflow_task_poller_behavior"], expected)
        assert isinstance(cpu.config()["activity_task_poller_behavior"], expected)


def test_a_worker_opens_its_store_once_on_the_first_step_that_needs_it(settings):
    """As `python -m workers` builds them: no store before polling, one for all steps after."""
    from workers.definitions import DepsOnFirstUse, _Implementations

    deps = DepsOnFirstUse(settings)
    implementations = _Implementations(Resource.IO, deps, settings)
    assert deps._deps is None  # building the worker opened nothing
    first, second = [implementations.method(s) for s in STEPS if s.resource is Resource.IO][:2]
    assert callable(first) and callable(second)
    assert deps._deps is not None and deps() is deps._deps  # built once, shared
