"""The report's figures from plain facts, so a test can seed facts and check them by hand.

Definitions (also printed in the report's footer):
- success rate: completed runs / finished runs (completed, failed, aborted, terminated, timed out);
- MTTR: per run that paged on-call and then completed, completion time − its first failure page;
  the mean, in minutes;
- manual-intervention rate: finished runs with an operator action (retry_step, skip_step, abort)
  / finished runs;
- p50/p95: nearest rank (the ⌈q·n⌉-th smallest) of finished runs' durations, and of every ledger
  attempt's wall time per step;
- cost per run: mean over runs with ledger rows of their summed cost; cost per step: the step's
  summed cost / runs that ran it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime

OPERATOR_ACTIONS = ("retry_step", "skip_step", "abort")
FINISHED = ("completed", "failed", "aborted", "terminated", "timed_out", "canceled")


@dataclass(frozen=True)
class RunFact:
    pipeline: str
    workflow_id: str
    run_id: str
    status: str  # running or one of FINISHED
    started_at: datetime
    ended_at: datetime | None = None
    actions: tuple[tuple[str, datetime], ...] = ()  # (update name, accepted at)


@dataclass(frozen=True)
class Attempt:
    """One step ledger row (issue 8 item 5)."""

    pipeline: str
    workflow_id: str
    step: str
    attempt: int
    queue: str
    wall_s: float
    cpu_s: float
    peak_rss_delta_mb: float
    outcome: str
    cost: float
    run_id: str = ""
    resource: str = ""  # io, cpu, training; else read from the queue name


@dataclass(frozen=True)
class AlertFact:
    kind: str
    severity: str
    workflow_id: str | None
    created_at: datetime
    sent: bool


@dataclass
class StepFigures:
    step: str
    queue: str
    attempts: int
    p50_s: float | None
    p95_s: float | None
    cost_per_run: float
    peak_rss_mb: float
    cpu_share: float | None  # CPU seconds / wall seconds, over all attempts
    concurrency: int | None
    recommendation: str


@dataclass
class PipelineFigures:
    pipeline: str
    runs: int
    finished: int
    completed: int
    success_rate: float | None
    mttr_min: float | None
    manual_intervention_rate: float | None
    p50_s: float | None
    p95_s: float | None
    cost_per_run: float | None
    steps: list[StepFigures] = field(default_factory=list)
    trend: list[dict] = field(default_factory=list)  # per finished run, oldest first: start, duration, cost, status


@dataclass
class Report:
    since: datetime
    until: datetime
    pipelines: list[PipelineFigures]
    alerts: dict[str, dict[str, int]]  # severity -> {"sent": n, "stored": n}

    def as_dict(self) -> dict:
        return asdict(self)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def compute(runs: list[RunFact], attempts: list[Attempt], alerts: list[AlertFact], *, since: datetime,
            until: datetime, concurrency: dict[str, int] | None = None) -> Report:
    concurrency = concurrency or {}
    first_page: dict[str, datetime] = {}
    for a in sorted(alerts, key=lambda a: a.created_at):
        if a.kind == "step_failed" and a.workflow_id:
            first_page.setdefault(a.workflow_id, a.created_at)
    by_pipeline: dict[str, list[RunFact]] = defaultdict(list)
    for r in runs:
        by_pipeline[r.pipeline].append(r)
    attempts_of: dict[str, list[Attempt]] = defaultdict(list)
    for a in attempts:
        attempts_of[a.pipeline].append(a)
    out = [_pipeline(name, by_pipeline.get(name, []), attempts_of.get(name, []), first_page, concurrency)
           for name in sorted(set(by_pipeline) | set(attempts_of))]
    severities: dict[str, dict[str, int]] = {}
    for a in alerts:
        bucket = severities.setdefault(a.severity, {"sent": 0, "stored": 0})
        bucket["stored"] += 1
        bucket["sent"] += a.sent
    return Report(since=since, until=until, pipelines=out, alerts=severities)


def _pipeline(name: str, runs: list[RunFact], attempts: list[Attempt], first_page: dict[str, datetime],
              concurrency: dict[str, int]) -> PipelineFigures:
    finished = [r for r in runs if r.status in FINISHED and r.ended_at is not None]
    completed = [r for r in finished if r.status == "completed"]
    repairs = [(r.ended_at - first_page[r.workflow_id]).total_seconds() / 60 for r in completed
               if r.workflow_id in first_page]
    manual = [r for r in finished if any(kind in OPERATOR_ACTIONS for kind, _ in r.actions)]
    durations = [(r.ended_at - r.started_at).total_seconds() for r in finished]
    run_cost: dict[str, float] = defaultdict(float)
    for a in attempts:
        run_cost[a.workflow_id] += a.cost
    trend = [{"workflow_id": r.workflow_id, "started_at": r.started_at.isoformat(), "status": r.status,
              "duration_s": (r.ended_at - r.started_at).total_seconds(), "cost": run_cost.get(r.workflow_id)}
             for r in sorted(finished, key=lambda r: r.started_at)]
    return PipelineFigures(
        pipeline=name, runs=len(runs), finished=len(finished), completed=len(completed),
        success_rate=_ratio(len(completed), len(finished)),
        mttr_min=sum(repairs) / len(repairs) if repairs else None,
        manual_intervention_rate=_ratio(len(manual), len(finished)),
        p50_s=percentile(durations, 0.5), p95_s=percentile(durations, 0.95),
        cost_per_run=sum(run_cost.values()) / len(run_cost) if run_cost else None,
        steps=_steps(attempts, concurrency), trend=trend)


def _steps(attempts: list[Attempt], concurrency: dict[str, int]) -> list[StepFigures]:
    grouped: dict[str, list[Attempt]] = defaultdict(list)
    for a in attempts:
        grouped[a.step].append(a)
    steps = []
    for step, rows in grouped.items():
        queue = rows[-1].queue
        resource = rows[-1].resource or resource_of(queue)
        wall, cpu = sum(a.wall_s for a in rows), sum(a.cpu_s for a in rows)
        share = cpu / wall if wall > 0 else None
        peak = max(a.peak_rss_delta_mb for a in rows)
        slots = concurrency.get(resource)
        steps.append(StepFigures(
            step=step, queue=queue, attempts=len(rows), p50_s=percentile([a.wall_s for a in rows], 0.5),
            p95_s=percentile([a.wall_s for a in rows], 0.95),
            cost_per_run=sum(a.cost for a in rows) / len({a.workflow_id for a in rows}),
            peak_rss_mb=peak, cpu_share=share, concurrency=slots,
            recommendation=recommend(resource, share, peak, slots)))
    return sorted(steps, key=lambda s: -s.cost_per_run)


def resource_of(queue: str) -> str:
    """Task queues are ``<prefix><resource>`` (mlwright.queues)."""
    for resource in ("training", "cpu", "io", "pipelines"):
        if queue.endswith(resource):
            return resource
    return queue


# A cpu slot is for work that keeps a core busy; an io slot is for waiting. Thresholds leave room
# for the interpreter's own overhead on either side.
CPU_BOUND, MOSTLY_WAITING = 0.7, 0.2
MEMORY_WATCH_MB = 1024


def recommend(resource: str, cpu_share: float | None, peak_mb: float, slots: int | None) -> str:
    if cpu_share is None:
        return "no measured time"
    if resource == "io" and cpu_share >= CPU_BOUND:
        return f"CPU-bound ({cpu_share:.0%} CPU): move to the cpu queue"
    if resource in ("cpu", "training") and cpu_share < MOSTLY_WAITING:
        return f"mostly waiting ({cpu_share:.0%} CPU): move to the io queue"
    if slots and peak_mb * slots > MEMORY_WATCH_MB:
        return (f"{slots} slots × {peak_mb:.0f} MB peak = {slots * peak_mb:.0f} MB: "
                f"lower {resource}_concurrency to {max(int(MEMORY_WATCH_MB // max(peak_mb, 1)), 1)}")
    return "fits"
