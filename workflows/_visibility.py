"""A run's search attributes (mlwright/visibility.py), upserted as its state changes.

Upserts are workflow commands: runs recorded before they existed must replay without them, so
the whole feature sits behind one ``workflow.patched`` marker taken when the run starts. The run's
trace id (mlwright/visibility.py) goes into its memo, behind a marker of its own.
"""

from __future__ import annotations

from datetime import date

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from mlwright import visibility as v

PATCH = "mlwright-search-attributes"
TRACE_PATCH = "mlwright-trace-id-memo"  # a memo upsert is a command too: runs from before it replay without
# States in which a run that never reached its start (its input refused) still publishes itself.
ENDED_BEFORE_START = frozenset({"failed", "cancelled"})


class RunAttributes:
    def __init__(self, pipeline: str) -> None:
        self._pipeline = pipeline
        self._started = False
        self._on = False
        self._state: str | None = None
        self._step: str | None = None

    def start(self, *, model: str | None = None, run_date: date | None = None) -> None:
        self._started = True
        self._on = workflow.patched(PATCH)
        if not self._on:
            return
        info = workflow.info()
        updates: list[SearchAttributeUpdate] = [v.PIPELINE.value_set(self._pipeline)]
        if model is not None:
            updates.append(v.MODEL.value_set(model))
        if run_date is not None:
            updates.append(v.RUN_DATE.value_set(v.run_date_value(run_date)))
        if info.typed_search_attributes.get(v.TRIGGERED_BY) is None:  # unless the starter said who
            updates.append(v.TRIGGERED_BY.value_set(_triggered_by(info)))
        workflow.upsert_search_attributes(updates)
        self.set(state="running", step=None)
        if workflow.patched(TRACE_PATCH):  # written even when empty, so every worker emits the same commands
            workflow.upsert_memo({v.TRACE_MEMO: v.current_trace_id()})

    def set(self, *, state: str, step: str | None) -> None:
        """Publish the run's state and current (or failed) step, when they changed. A run that ends
        before it started (its input refused) is still listed, under its pipeline; before that, a
        handler's call publishes nothing, as it did before the run listed its start."""
        if not self._started and state in ENDED_BEFORE_START:
            self.start()
        if not self._on:
            return
        updates: list[SearchAttributeUpdate] = []
        if state != self._state:
            updates.append(v.STATE.value_set(state))
        if step != self._step:
            updates.append(v.STEP.value_set(step) if step else v.STEP.value_unset())
        if updates:
            self._state, self._step = state, step
            workflow.upsert_search_attributes(updates)


def _triggered_by(info: workflow.Info) -> str:
    if info.typed_search_attributes.get(v.SCHEDULED_BY) is not None:
        return "schedule"
    if info.parent is not None:
        return "upstream"
    return "cli"
