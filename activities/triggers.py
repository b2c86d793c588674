"""Reads the declared dependencies of an upstream pipeline (written by `mlwright schedules apply`)."""

from __future__ import annotations

from activities.deps import ActivityDeps
from mlwright.contracts import triggers as c
from mlwright.schedule_file import downstream_input
from mlwright.steps import triggers as steps
from mlwright.store import dependencies
from mlwright.store.db import session_scope


class TriggerActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @steps.FIND_DOWNSTREAM.defn
    def find_downstream(self, inp: c.DownstreamQuery) -> c.DownstreamPlan:
        """The runs to start for the upstream's date. Read-only, so any retry is harmless; the
        workflow starts them (ids are per date, so a second upstream completion starts nothing)."""
        up = inp.upstream
        with session_scope(self.deps.engine) as session:
            declared = dependencies.downstream_of(session, upstream=up.workflow_type)
        return c.DownstreamPlan(starts=[c.DownstreamStart(
            workflow_type=d.downstream, workflow_id=f"{inp.task_queue_prefix}{d.downstream}-{up.run_date.isoformat()}",
            input=downstream_input(d, up)) for d in declared])
