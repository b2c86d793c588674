"""RetrainingMonitor: one long-running workflow per model (id ``monitor-<model>``).

Each cycle waits on a durable timer (``interval``), then reads the model's recent predictions and
the ground truth that has arrived since, computes performance and feature drift, records the
figures, and when the model is degraded starts a child TrainingPipeline (id
``<monitor id>/retrain-<cycle>``, deterministic, so a replayed or retried start cannot create a
second). At most one child runs at a time.

Parent-close policy ABANDON: the child waits for a person's approval, possibly for days. If the
monitor is terminated, reset or continued-as-new meanwhile, that person may be mid-review; killing
the child would throw their review away and leave the registry's staging slot to be cleaned up.
The monitor tracks the child by id instead (``poll_training_child`` each cycle), which survives
continue-as-new and never ties the monitor's fate to the child's: a failed child is recorded as
``failed`` and the monitor goes on.

Cool-down: once a child ends (whatever its outcome), no new retrain starts for ``cooldown``. The
ground truth of a newly promoted model arrives late, so for a while the monitor still sees the
old model's bad figures; without a cool-down that backlog would spawn a retrain every cycle. After
a failed or rejected child it stops a retrain storm that a person has to look at anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from mlwright.contracts import monitor as c
    from mlwright.contracts.common import describe_validation_error
    from mlwright.steps import monitor as steps

from workflows._steps import parse_input, queues_for_this_run, run_step

UPDATE_REFUSED = "UpdateRefused"
KEEP_CHILDREN = 20


@workflow.defn(name="RetrainingMonitor")
class RetrainingMonitor:
    def __init__(self) -> None:
        self._state = c.MonitorState()
        self._next_at: datetime | None = None
        self._inp: c.MonitorInput | None = None
        self._cycles_this_run = 0

    @workflow.run
    async def run(self, *raw: object) -> c.MonitorResult:
        """Input: MonitorInput as JSON. Runs until ``max_cycles`` (forever by default)."""
        inp = parse_input(raw, c.MonitorInput, "RetrainingMonitor")
        self._inp = inp
        if inp.state is not None:
            self._state = inp.state
        if self._state.thresholds is None:
            self._state.thresholds = inp.thresholds
        self._queues = queues_for_this_run()
        self._id = workflow.info().workflow_id
        while inp.max_cycles is None or self._state.cycle < inp.max_cycles:
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                state = self._state.model_copy(update={"runs": self._state.runs + 1})
                workflow.continue_as_new(inp.model_copy(update={"state": state}))
            trigger = await self._wait_for_cycle()
            await self._cycle(trigger)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return c.MonitorResult(model_name=inp.model_name, cycles=self._state.cycle,
                               children=list(self._state.children), child=self._state.child)

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (self._cycles_this_run >= self._inp.cycles_per_run
                or info.get_current_history_length() > self._inp.max_history_events
                or info.is_continue_as_new_suggested())

    async def _wait_for_cycle(self) -> str:
        """The durable timer, cut short by ``trigger_now``; a pause holds the next cycle."""
        while True:
            self._next_at = workflow.now() + self._inp.interval
            try:
                await workflow.wait_condition(lambda: self._state.pending_trigger is not None or self._state.paused,
                                              timeout=self._inp.interval, timeout_summary="next monitor cycle")
            except TimeoutError:
                pass
            if self._state.paused:
                self._next_at = None
                await workflow.wait_condition(lambda: not self._state.paused)
                continue  # a resumed monitor waits a full interval, as after any cycle
            trigger, self._state.pending_trigger = self._state.pending_trigger, None
            return f"trigger_now: {trigger}" if trigger else "timer"

    async def _cycle(self, trigger: str) -> None:
        inp, state = self._inp, self._state
        state.cycle += 1
        self._cycles_this_run += 1
        changed_child = await self._check_child()
        figures = await run_step(steps.EVALUATE, c.EvaluateCycleInput(
            model_name=inp.model_name, task=inp.task, cycle=state.cycle, stream=inp.stream,
            thresholds=state.thresholds), self._queues,
            summary=f"cycle {state.cycle}: performance and drift")
        figures = figures.model_copy(update={"trigger": trigger, "action": self._action(figures)})
        if figures.action == "retrain":
            state.child = await self._start_child(state.cycle)
            changed_child = state.child
            figures = figures.model_copy(update={"child_id": state.child.workflow_id})
        elif state.child is not None:
            figures = figures.model_copy(update={"child_id": state.child.workflow_id})
        await run_step(steps.RECORD, c.RecordCycleInput(
            monitor_id=self._id, model_name=inp.model_name, figures=figures, child=changed_child), self._queues)
        state.recent = [*state.recent, figures][-inp.keep_cycles:]
        workflow.logger.info("monitor cycle %d: %s %s, drift %s, action %s", figures.cycle, figures.metric,
                             figures.value, figures.drift_level, figures.action)

    def _action(self, figures: c.CycleFigures) -> c.Action:
        state = self._state
        if not figures.degraded:
            return "too_few_outcomes" if figures.value is None and not figures.reasons else "none"
        if state.child is not None:
            return "child_running"
        if state.cooldown_until is not None and workflow.now() < state.cooldown_until:
            return "cooldown"
        return "retrain"

    async def _check_child(self) -> c.ChildRun | None:
        child = self._state.child
        if child is None:
            return None
        seen = await run_step(steps.POLL_CHILD, c.PollChildInput(child=child), self._queues)
        if seen.outcome is None:
            return None
        ended = seen.ended_at or workflow.now()
        self._state.child = None
        self._state.children = [*self._state.children, seen][-KEEP_CHILDREN:]
        self._state.cooldown_until = max(ended, workflow.now()) + self._inp.cooldown
        workflow.logger.info("retrain %s ended: %s", seen.workflow_id, seen.outcome)
        return seen

    async def _start_child(self, cycle: int) -> c.ChildRun:
        # From the model name, not workflow.info(): the id is ``monitor-<model>`` by convention, and a
        # replay (which runs under another workflow id) must issue the same child id.
        child_id = f"monitor-{self._inp.model_name}/retrain-{cycle}"
        await workflow.start_child_workflow(
            "TrainingPipeline", self._inp.training, id=child_id, task_queue=self._queues.pipelines,
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"retrain {self._inp.model_name} (monitor cycle {cycle})")
        return c.ChildRun(workflow_id=child_id, cycle=cycle, started_at=workflow.now())

    # --- controls: Updates refuse what cannot apply (validators); Signals are fire-and-forget ---

    @workflow.update(name="pause")
    def pause(self, request: Any = None) -> c.MonitorStatus:
        """Hold cycles until ``resume`` (input: PauseRequest). A running child goes on."""
        self._state.paused = True
        return self.status()

    @pause.validator
    def _validate_pause(self, request: Any = None) -> None:
        _parse(c.PauseRequest, request, "pause")
        if self._state.paused:
            _refuse("already paused")

    @workflow.update(name="resume")
    def resume(self, request: Any = None) -> c.MonitorStatus:
        """Resume cycles (input: PauseRequest); the next one comes a full interval later."""
        self._state.paused = False
        return self.status()

    @resume.validator
    def _validate_resume(self, request: Any = None) -> None:
        _parse(c.PauseRequest, request, "resume")
        if not self._state.paused:
            _refuse("not paused")

    @workflow.update(name="trigger_now")
    async def trigger_now(self, request: Any = None) -> c.MonitorStatus:
        """Run a cycle now (input: TriggerRequest); replies once that cycle is recorded."""
        target = self._state.cycle + 1
        self._state.pending_trigger = _parse(c.TriggerRequest, request, "trigger_now").reason
        await workflow.wait_condition(lambda: self._state.cycle >= target and self._state.recent
                                      and self._state.recent[-1].cycle >= target)
        return self.status()

    @trigger_now.validator
    def _validate_trigger_now(self, request: Any = None) -> None:
        _parse(c.TriggerRequest, request, "trigger_now")
        if self._state.paused:
            _refuse("paused: resume first")
        if self._state.pending_trigger is not None:
            _refuse("a triggered cycle is already pending")

    @workflow.update(name="update_thresholds")
    def update_thresholds(self, thresholds: Any = None) -> c.MonitorStatus:
        """Replace the thresholds (input: MonitorThresholds); they apply from the next cycle."""
        self._state.thresholds = _parse(c.MonitorThresholds, thresholds, "update_thresholds")
        return self.status()

    @update_thresholds.validator
    def _validate_update_thresholds(self, thresholds: Any = None) -> None:
        _parse(c.MonitorThresholds, thresholds, "update_thresholds")

    @workflow.signal(name="pause")
    def pause_signal(self, request: Any = None) -> None:
        """Pause, for tools that only signal; an invalid signal is logged and ignored."""
        if self._signal_ok(c.PauseRequest, request, "pause"):
            self._state.paused = True

    @workflow.signal(name="resume")
    def resume_signal(self, request: Any = None) -> None:
        if self._signal_ok(c.PauseRequest, request, "resume"):
            self._state.paused = False

    def _signal_ok(self, model: type, raw: Any, name: str) -> bool:
        try:
            model.model_validate(raw)
        except ValidationError as e:
            workflow.logger.warning("refused %s signal: %s", name, describe_validation_error(e))
            return False
        return True

    @workflow.query
    def status(self) -> c.MonitorStatus:
        """Last cycles, current child, thresholds, next cycle time."""
        state = self._state
        return c.MonitorStatus(
            model_name=self._inp.model_name if self._inp else "", cycle=state.cycle, paused=state.paused,
            thresholds=state.thresholds or c.MonitorThresholds(), recent=list(state.recent), child=state.child,
            children=list(state.children), cooldown_until=state.cooldown_until,
            next_cycle_at=None if state.paused else self._next_at, runs=state.runs)


def _parse(model: type, raw: Any, name: str):
    try:
        return model.model_validate(raw if raw is not None else {})
    except ValidationError as e:
        raise ApplicationError(f"invalid {name} input: {describe_validation_error(e)}", type=UPDATE_REFUSED,
                               non_retryable=True) from e


def _refuse(why: str) -> None:
    raise ApplicationError(why, type=UPDATE_REFUSED, non_retryable=True)


__all__ = ["RetrainingMonitor"]
