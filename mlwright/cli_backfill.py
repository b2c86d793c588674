"""`mlwright backfill FeaturePipeline --from D1 --to D2`: one FeaturePipeline run per date, a few at once.

Each date's run has the id ``<prefix>feature-<set>-<date>`` and is started with
``ALLOW_DUPLICATE_FAILED_ONLY``: the server itself refuses a second run of a date that completed
(or is running), so running the same backfill again re-runs nothing, even from two terminals at
once; only a date whose run failed, was cancelled, terminated or timed out is started again.
Backfill runs read every source whole and never move the watermarks (see
``mlwright/features/incremental.py``).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from mlwright.settings import Settings

PIPELINES = ("FeaturePipeline",)


def add_parser(sub) -> None:
    bf = sub.add_parser("backfill", help="run a dated pipeline once per date of a range (idempotent)")
    bf.add_argument("pipeline", choices=PIPELINES)
    bf.add_argument("--from", dest="start", required=True, type=_iso_date, metavar="YYYY-MM-DD")
    bf.add_argument("--to", dest="end", required=True, type=_iso_date, metavar="YYYY-MM-DD")
    bf.add_argument("--feature-set", default="patient_risk")
    bf.add_argument("--concurrency", type=int, default=None,
                    help="most runs at once; default MLWRIGHT_BACKFILL_CONCURRENCY")
    bf.set_defaults(handler=_backfill)


def _iso_date(text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def dates(start: date, end: date, max_days: int) -> list[date]:
    """Every date from ``start`` to ``end`` inclusive; refused when reversed or longer than ``max_days``."""
    if start > end:
        raise ValueError(f"--from {start} is after --to {end}")
    days = (end - start).days + 1
    if days > max_days:
        raise ValueError(f"{days} dates from {start} to {end}: more than MLWRIGHT_BACKFILL_MAX_DAYS={max_days}")
    return [start + timedelta(days=d) for d in range(days)]


def workflow_id(prefix: str, feature_set: str, day: date) -> str:
    return f"{prefix}feature-{feature_set}-{day.isoformat()}"


@dataclass(frozen=True)
class Outcome:
    day: date
    workflow_id: str
    state: str  # completed | already completed | failed
    detail: str = ""

    def line(self) -> str:
        return f"{self.day}  {self.state:<17}  {self.workflow_id}" + (f"  {self.detail}" if self.detail else "")


async def run(client, *, prefix: str, task_queue: str, feature_set: str, days: list[date], concurrency: int,
              say: Callable[[str], None] = print) -> list[Outcome]:
    slots = asyncio.Semaphore(concurrency)

    async def one(day: date) -> Outcome:
        async with slots:
            outcome = await _one(client, workflow_id(prefix, feature_set, day), day, task_queue, feature_set, say)
        say(outcome.line())
        return outcome

    return list(await asyncio.gather(*(one(d) for d in days)))


async def _one(client, wid: str, day: date, task_queue: str, feature_set: str, say) -> Outcome:
    from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
    from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from mlwright.contracts.feature_pipeline import FeaturePipelineResult

    try:
        handle = await client.start_workflow(
            "FeaturePipeline", {"run_date": day.isoformat(), "feature_set": feature_set, "backfill": True},
            id=wid, task_queue=task_queue, result_type=FeaturePipelineResult,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
        say(f"{day}  started            {wid}")
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle(wid, result_type=FeaturePipelineResult)
        status = (await handle.describe()).status
        if status == WorkflowExecutionStatus.COMPLETED:
            return Outcome(day, wid, "already completed", "not re-run")
        say(f"{day}  already running    {wid}  waiting for it")  # another backfill, or one interrupted
    try:
        result = await handle.result()
    except WorkflowFailureError as e:
        return Outcome(day, wid, "failed", _innermost(e))
    return Outcome(day, wid, "completed", f"{result.entities} entities, drift {result.drift_level}")


def _innermost(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error)


def _backfill(args: argparse.Namespace, settings: Settings) -> None:
    from mlwright.client import connect
    from mlwright.contracts.common import describe_validation_error
    from mlwright.contracts.feature_pipeline import FeaturePipelineInput
    from mlwright.queues import QueueSet

    concurrency = args.concurrency if args.concurrency is not None else settings.backfill_concurrency
    if concurrency < 1:
        raise RuntimeError(f"--concurrency must be at least 1, got {concurrency}")
    try:
        days = dates(args.start, args.end, settings.backfill_max_days)
        FeaturePipelineInput(feature_set=args.feature_set)  # the name rule, before anything starts
    except ValueError as e:  # pydantic's ValidationError included: it names the field
        detail = describe_validation_error(e) if hasattr(e, "errors") else str(e)
        raise RuntimeError(f"nothing started: {detail}") from e
    queues = QueueSet(settings.task_queue_prefix)

    async def go() -> list[Outcome]:
        return await run(await connect(settings), prefix=queues.prefix, task_queue=queues.pipelines,
                         feature_set=args.feature_set, days=days, concurrency=concurrency)

    outcomes = asyncio.run(go())
    counts = {state: sum(o.state == state for o in outcomes) for state in ("completed", "already completed", "failed")}
    print(f"backfill {args.pipeline} {args.feature_set} {days[0]}..{days[-1]}: {len(days)} dates, "
          + ", ".join(f"{n} {state}" for state, n in counts.items()))
    if counts["failed"]:
        raise RuntimeError(f"{counts['failed']} of {len(days)} dates failed: "
                           + " ".join(str(o.day) for o in outcomes if o.state == "failed"))
