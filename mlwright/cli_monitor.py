"""`mlwright monitor start|status|pause|resume|trigger MODEL`: the RetrainingMonitor of a model.

Built on the monitor's own Updates and Query (workflow id ``monitor-<model>``), so the CLI can do
nothing `temporal workflow update execute` could not; it adds readable output and one-line errors.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlwright.settings import Settings

# A query or update needs a worker on the pipelines queue; without one the server would hold the call.
ANSWER_TIMEOUT_S = 15


def monitor_id(model: str) -> str:
    return f"monitor-{model}"


def add_parser(sub) -> None:
    mon = sub.add_parser("monitor", help="a model's RetrainingMonitor: start, status, pause, resume, trigger")
    mon_sub = mon.add_subparsers(required=True, metavar="ACTION")
    start = mon_sub.add_parser("start", help="start monitor-MODEL (cycles on a durable timer)")
    start.add_argument("model")
    start.add_argument("--interval", default="1h", help="time between cycles, e.g. 30s, 15m, 1h (default 1h)")
    start.add_argument("--training", help="TrainingPipeline input of a retrain: JSON, or @FILE; default for the "
                                          "patient-risk models: the table `mlwright patient-risk bootstrap` wrote")
    start.add_argument("--drift-from-cycle", type=int, help="inject drift into the stream from this cycle (demos)")
    start.add_argument("--min-roc-auc", type=float, help="degraded below this ROC AUC (default 0.70)")
    start.add_argument("--cooldown", help="no new retrain for this long after one ends (default 24h)")
    start.set_defaults(handler=_start)
    status = mon_sub.add_parser("status", help="last cycles, current child, thresholds, next cycle")
    status.add_argument("model")
    status.add_argument("--json", action="store_true", help="the status query's answer as JSON")
    status.set_defaults(handler=_status)
    for name, helptext in (("pause", "hold cycles (a running child goes on)"),
                           ("resume", "resume cycles; the next comes a full interval later")):
        cmd = mon_sub.add_parser(name, help=helptext)
        cmd.add_argument("model")
        cmd.add_argument("--operator", default=None, help="who (default: your user name)")
        cmd.add_argument("--reason", default="")
        cmd.set_defaults(handler=_control, update=name)
    trigger = mon_sub.add_parser("trigger", help="run a cycle now; returns once it is recorded")
    trigger.add_argument("model")
    trigger.add_argument("--reason", required=True, help="why; recorded with the cycle")
    trigger.set_defaults(handler=_control, update="trigger_now")


def _start(args: argparse.Namespace, settings: Settings) -> None:
    from pydantic import ValidationError

    from mlwright.contracts.common import describe_validation_error
    from mlwright.contracts.monitor import MonitorInput

    body: dict[str, Any] = {"model_name": args.model, "interval": args.interval, "training": _training(args)}
    if args.drift_from_cycle is not None:
        body["stream"] = {"drift_from_cycle": args.drift_from_cycle}
    if args.min_roc_auc is not None:
        body["thresholds"] = {"min_roc_auc": args.min_roc_auc}
    if args.cooldown:
        body["cooldown"] = args.cooldown
    try:
        inp = MonitorInput.model_validate(body)
    except ValidationError as e:
        raise RuntimeError(f"monitor not started: {describe_validation_error(e)}") from e

    async def start() -> str:
        from temporalio.exceptions import WorkflowAlreadyStartedError

        from mlwright.queues import QueueSet

        client = await _client(settings)
        try:
            handle = await client.start_workflow("RetrainingMonitor", inp, id=monitor_id(args.model),
                                                 task_queue=QueueSet(settings.task_queue_prefix).pipelines)
        except WorkflowAlreadyStartedError as e:
            raise RuntimeError(f"{monitor_id(args.model)} is already running: see `mlwright monitor status "
                               f"{args.model}`") from e
        return handle.result_run_id

    run_id = asyncio.run(start())
    print(f"started {monitor_id(args.model)}: a cycle every {args.interval}")  # noqa: T201
    print(f"Web UI {settings.run_url(monitor_id(args.model), run_id)}")  # noqa: T201


def _training(args: argparse.Namespace) -> dict:
    if args.training:
        text = Path(args.training[1:]).read_text() if args.training.startswith("@") else args.training
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise RuntimeError(f"--training is not JSON: {e}") from e
    from mlwright.patient_risk.bootstrap import retrain_body

    body = retrain_body(args.model)
    if body is None:
        raise RuntimeError(f"--training is required for {args.model!r} (a default exists only for the "
                           "patient-risk models)")
    return body


def _status(args: argparse.Namespace, settings: Settings) -> None:
    from mlwright.contracts.monitor import MonitorStatus

    async def query() -> MonitorStatus:
        handle = (await _client(settings)).get_workflow_handle(monitor_id(args.model))
        return await _answer(args.model, "status", handle.query("status", result_type=MonitorStatus))

    status = asyncio.run(query())
    print(status.model_dump_json(indent=2) if args.json else status_table(status, datetime.now(UTC)))  # noqa: T201


def _control(args: argparse.Namespace, settings: Settings) -> None:
    from mlwright.contracts.monitor import MonitorStatus

    if args.update == "trigger_now":
        request = {"reason": args.reason}
    else:
        request = {"operator": args.operator or getpass.getuser(), "reason": args.reason}

    async def update() -> MonitorStatus:
        handle = (await _client(settings)).get_workflow_handle(monitor_id(args.model))
        # trigger_now answers once its cycle is recorded: that cycle's steps set the pace, not us.
        timeout = None if args.update == "trigger_now" else ANSWER_TIMEOUT_S
        return await _answer(args.model, args.update, handle.execute_update(args.update, request,
                                                                            result_type=MonitorStatus), timeout)

    status = asyncio.run(update())
    print(status_table(status, datetime.now(UTC)))  # noqa: T201


async def _client(settings: Settings):
    from mlwright.client import connect

    return await connect(settings)


async def _answer(model: str, what: str, call, timeout: float | None = ANSWER_TIMEOUT_S):
    """The monitor's answer, or one line saying why there is none."""
    from temporalio.client import WorkflowQueryFailedError, WorkflowUpdateFailedError
    from temporalio.service import RPCError, RPCStatusCode

    wid = monitor_id(model)
    try:
        return await asyncio.wait_for(call, timeout)
    except WorkflowUpdateFailedError as e:
        cause = getattr(e.cause, "message", None) or str(e.cause or e)
        raise RuntimeError(f"{wid} refused {what}: {cause}") from e
    except WorkflowQueryFailedError as e:
        raise RuntimeError(f"{wid} could not answer {what}: {e}") from e
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            closed = "already completed" in e.message or "already finished" in e.message
            raise RuntimeError(f"{wid} has ended: start it again with `mlwright monitor start {model}`" if closed
                               else f"no monitor for {model!r} (no workflow {wid})") from e
        raise RuntimeError(f"{wid}: the server refused {what}: {e.message}") from e
    except TimeoutError as e:
        raise RuntimeError(f"{wid} did not answer {what} within {timeout:.0f}s: is a worker serving the "
                           "pipelines queue (`mlwright up` or `mlwright worker`)?") from e


def status_table(status, now: datetime) -> str:
    """A MonitorStatus for a person: state, next cycle, thresholds, child, last cycles, past children."""
    t = status.thresholds
    state = "PAUSED" if status.paused else "running"
    lines = [f"{monitor_id(status.model_name)}  {state}, cycle {status.cycle}, run {status.runs}"]
    if status.next_cycle_at is not None:
        lines.append(f"next cycle   {_at(status.next_cycle_at)} (in {_span(status.next_cycle_at - now)})")
    else:
        lines.append("next cycle   - (paused)" if status.paused else "next cycle   -")
    rmse = f", rmse > {t.max_rmse}" if t.max_rmse is not None else ""
    drift = "drift ignored" if t.drift_level == "never" else f"drift >= {t.drift_level}"
    lines.append(f"thresholds   degraded when roc_auc < {t.min_roc_auc}, accuracy < {t.min_accuracy}{rmse}, {drift} "
                 f"(performance judged from {t.min_outcomes} outcomes)")
    child = status.child
    lines.append(f"child        {child.workflow_id} (cycle {child.cycle}, started {_at(child.started_at)}): running"
                 if child else "child        none running")
    if status.cooldown_until is not None and status.cooldown_until > now:
        lines.append(f"cool-down    no retrain before {_at(status.cooldown_until)}")
    lines.append("last cycles")
    lines.append(f"  {'CYCLE':>5}  {'AT':<19}  {'METRIC':<14}  {'OUTCOMES':>8}  {'DRIFT':<8}  {'ACTION':<16}  TRIGGER")
    for f in status.recent[-10:]:
        value = f"{f.metric} {f.value:.3f}" if f.value is not None else f"{f.metric} -"
        lines.append(f"  {f.cycle:>5}  {_at(f.at):<19}  {value:<14}  {f.outcomes:>8}  {f.drift_level:<8}  "
                     f"{f.action:<16}  {f.trigger}")
    if not status.recent:
        lines.append("  (none yet)")
    if status.children:
        lines.append("finished children")
        for k in status.children[-5:]:
            version = f" v{k.version}" if k.version is not None else ""
            lines.append(f"  {k.workflow_id}  {k.outcome}{version}  {_at(k.ended_at) if k.ended_at else ''}  "
                         f"{k.reason}".rstrip())
    return "\n".join(lines)


def _at(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _span(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"
