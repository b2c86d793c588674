"""Apply a schedules file to Temporal (Schedules) and the store (dependencies); list what is applied.

Idempotency: each schedule's action carries the hash of its normalised spec in its memo
(``mlwright_spec``; a schedule's own memo is fixed at creation, the action's is updatable, and
every run it starts then says which spec started it). Re-applying compares hashes, so an unchanged
file sends no update. The schedule's own memo marks it as mlwright's (``mlwright_managed`` = the
deployment's task-queue prefix): ``--prune`` deletes only those, never a schedule made by hand.
A schedule paused by an operator stays paused: its state is not part of the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from mlwright import schedule_file as sf
from mlwright.queues import QueueSet
from mlwright.store import dependencies
from mlwright.store.db import open_store, session_scope

MANAGED_MEMO = "mlwright_managed"
SPEC_MEMO = "mlwright_spec"
WHEN_MEMO = "mlwright_when"  # the cron or interval as written (the server keeps cron as calendars)
_OVERLAP = {
    "skip": ScheduleOverlapPolicy.SKIP, "buffer_one": ScheduleOverlapPolicy.BUFFER_ONE,
    "buffer_all": ScheduleOverlapPolicy.BUFFER_ALL, "cancel_other": ScheduleOverlapPolicy.CANCEL_OTHER,
    "terminate_other": ScheduleOverlapPolicy.TERMINATE_OTHER, "allow_all": ScheduleOverlapPolicy.ALLOW_ALL,
}


@dataclass(frozen=True)
class Outcome:
    kind: str  # schedule | dependency
    name: str
    result: str  # created | updated | unchanged | deleted


def build(spec: sf.ScheduleSpec, queues: QueueSet) -> Schedule:
    """The Temporal Schedule a spec stands for (its memo carries the spec's hash)."""
    if spec.cron is not None:
        # cron_expressions are compiled by the server into calendars; kept as written here.
        when = ScheduleSpec(cron_expressions=list(spec.cron), time_zone_name=spec.timezone,
                            jitter=sf.parse_duration(spec.jitter))
    else:
        when = ScheduleSpec(intervals=[ScheduleIntervalSpec(
            every=sf.parse_duration(spec.every),
            offset=sf.parse_duration(spec.offset) if spec.offset else None)],
            time_zone_name=spec.timezone, jitter=sf.parse_duration(spec.jitter))
    action = ScheduleActionStartWorkflow(
        spec.workflow, spec.input, id=spec.workflow_id or spec.id, task_queue=queues.pipelines,
        memo={SPEC_MEMO: sf.schedule_hash(spec, queues.pipelines), WHEN_MEMO: _when(spec)},
        typed_search_attributes=TypedSearchAttributes.empty)
    return Schedule(action=action, spec=when,
                    policy=SchedulePolicy(overlap=_OVERLAP[spec.overlap],
                                          catchup_window=sf.parse_duration(spec.catchup_window),
                                          pause_on_failure=spec.pause_on_failure),
                    state=ScheduleState(note=spec.note))


def _when(spec: sf.ScheduleSpec) -> str:
    zone = f" {spec.timezone}" if spec.timezone else ""
    if spec.cron is not None:
        return f"cron {' | '.join(spec.cron)}{zone}"
    return f"every {spec.every}" + (f" +{spec.offset}" if spec.offset else "")


async def _applied_hash(client: Client, schedule_id: str) -> str | None:
    """The spec hash of an existing schedule; None when it does not exist."""
    try:
        desc = await client.get_schedule_handle(schedule_id).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    memo = getattr(desc.schedule.action, "memo", None) or {}
    payload = memo.get(SPEC_MEMO)
    if payload is None:
        return ""  # exists, but not from an mlwright spec: it gets updated
    return await _memo_str(client, payload)


async def _memo_str(client: Client, payload) -> str:  # noqa: ANN001 - a temporalio Payload
    # Memo payloads come back as stored: sealed by the payload codec, so decode, don't just convert.
    [value] = await client.data_converter.decode([payload], [str])
    return value


async def apply(client: Client, parsed: sf.ScheduleFile, queues: QueueSet, database_url: str, *,
                prune: bool = False, say: Callable[[str], None] = lambda _line: None) -> list[Outcome]:
    """Make Temporal and the store match ``parsed`` (already validated as a whole)."""
    outcomes: list[Outcome] = []

    def note(kind: str, name: str, result: str) -> None:
        outcomes.append(Outcome(kind, name, result))
        say(f"{kind} {name}: {result}")

    for spec in parsed.schedule:
        wanted = sf.schedule_hash(spec, queues.pipelines)
        have = await _applied_hash(client, spec.id)
        if have == wanted:
            note("schedule", spec.id, "unchanged")
            continue
        schedule = build(spec, queues)
        if have is None:
            try:
                await client.create_schedule(spec.id, schedule, memo={MANAGED_MEMO: queues.prefix})
                note("schedule", spec.id, "created")
                continue
            except ScheduleAlreadyRunningError:
                pass  # created meanwhile by another apply: update it to this spec

        def replace(_current: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
            # Keep an operator's pause: the file says what runs when, not whether it is paused now.
            current = _current.description.schedule.state
            new.state.paused = current.paused
            if current.paused:
                new.state.note = current.note  # why it was paused
            return ScheduleUpdate(schedule=new)

        await client.get_schedule_handle(spec.id).update(replace)
        note("schedule", spec.id, "updated")

    engine = open_store(database_url)
    with session_scope(engine) as session:
        for dep in parsed.dependency:
            note("dependency", f"{dep.upstream} -> {dep.downstream}", dependencies.upsert(session, spec=dep))
        if prune:
            keep = {(d.upstream, d.downstream) for d in parsed.dependency}
            for gone in dependencies.delete_except(session, keep=keep):
                note("dependency", gone, "deleted")
    if prune:
        wanted_ids = {s.id for s in parsed.schedule}
        for schedule_id in await managed_ids(client, queues):
            if schedule_id not in wanted_ids:
                await client.get_schedule_handle(schedule_id).delete()
                note("schedule", schedule_id, "deleted")
    return outcomes


async def managed_ids(client: Client, queues: QueueSet) -> list[str]:
    """Ids of the schedules mlwright created for this deployment (task-queue prefix)."""
    found = []
    async for listed in await client.list_schedules():
        memo = await listed.memo()
        if memo.get(MANAGED_MEMO) == queues.prefix:
            found.append(listed.id)
    return sorted(found)


async def describe_all(client: Client, queues: QueueSet) -> list[dict]:
    """One row per managed schedule: what `mlwright schedules list` prints."""
    rows = []
    for schedule_id in await managed_ids(client, queues):
        desc = await client.get_schedule_handle(schedule_id).describe()
        s = desc.schedule
        memo = getattr(s.action, "memo", None) or {}
        when = (await _memo_str(client, memo[WHEN_MEMO]) if WHEN_MEMO in memo
                else ", ".join(f"every {i.every}" for i in s.spec.intervals) or _calendars(s.spec.calendars))
        upcoming = desc.info.next_action_times[:1]
        rows.append({
            "id": schedule_id, "workflow": getattr(s.action, "workflow", "?"), "when": when,
            "overlap": s.policy.overlap.name.lower(), "paused": s.state.paused,
            "next": upcoming[0].isoformat() if upcoming else None,
            "runs": desc.info.num_actions, "note": s.state.note or "",
        })
    return rows


def _calendars(calendars: list[ScheduleCalendarSpec]) -> str:
    def field(ranges) -> str:
        return ",".join(str(r.start) if r.end <= r.start else f"{r.start}-{r.end}" for r in ranges) or "*"

    return "; ".join(f"cal {field(c.minute)} {field(c.hour)} {field(c.day_of_month)} {field(c.month)} "
                     f"{field(c.day_of_week)}" for c in calendars)


def table(rows: list[dict]) -> str:
    if not rows:
        return "no schedules applied by mlwright for this deployment"
    head = ("ID", "WORKFLOW", "WHEN", "OVERLAP", "PAUSED", "NEXT", "RUNS")
    lines = [(r["id"], r["workflow"], r["when"], r["overlap"], "yes" if r["paused"] else "no",
              r["next"] or "-", str(r["runs"])) for r in rows]
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
                     for line in [head, *lines])
