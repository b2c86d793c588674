"""End-to-end benchmark of the PatientRiskPipeline.

For each population size: seed the four sources (timed apart), run the pipeline on fresh worker
processes, one per task queue as `mlwright dev` and deploy/ run them, and report end-to-end time,
per-step times, each worker's peak memory (VmHWM) and the orchestration share (time in the run
when no step was executing / run time).
Then the recovery drill at one size: a fault exhausts step 14's retries, the operator retries at
the page, and the time from page to completion is compared with a full run.

    python bench/patient_risk.py --sizes 10000 100000 [1000000] --recovery-size 100000
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from procs import children, cpu_s, cpu_with_children_s
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from mlwright import visibility
from mlwright.cli import exit_now
from mlwright.client import client_options
from mlwright.contracts.patient_risk import PatientRiskInput, PatientRiskResult, RetryStep
from mlwright.devstack import temporal_binary, tuning_args
from mlwright.patient_risk import bootstrap, care
from mlwright.patient_risk import fhir as fhir_resources
from mlwright.queues import QueueSet
from mlwright.services import alert_inbox, fhir, pharmacy
from mlwright.settings import Settings
from mlwright.store.db import make_engine

RUN_DATE = date(2026, 11, 27)


def workers(settings: Settings, address: str, log: Path, fault: str | None = None) -> dict[str, subprocess.Popen]:
    """One process per task queue, as deployed."""
    return {q: worker(settings, address, log.with_suffix(f".{q}.log"), fault, [q])
            for q in ("pipelines", "io", "cpu", "training")}


def stop(procs: dict[str, subprocess.Popen]) -> dict[str, float]:
    peaks = {q: peak_rss_mb(p.pid) for q, p in procs.items()}
    for p in procs.values():
        p.terminate()
        p.wait()
    return peaks


def worker(settings: Settings, address: str, log: Path, fault: str | None = None,
           queues: list[str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "MLWRIGHT_HOME": str(settings.home), "MLWRIGHT_TEMPORAL_ADDRESS": address,
           "MLWRIGHT_TASK_QUEUE_PREFIX": settings.task_queue_prefix, "MLWRIGHT_FHIR_URL": settings.fhir_url,
           "MLWRIGHT_PHARMACY_URL": settings.pharmacy_url, "MLWRIGHT_ALERT_ROUTES": json.dumps(settings.alert_routes),
           "MLWRIGHT_LOG_LEVEL": "WARNING", "MLWRIGHT_IO_CONCURRENCY": "4", "MLWRIGHT_CPU_CONCURRENCY": "2"}
    if fault:
        env["MLWRIGHT_FAULT_INJECTION"] = fault
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "workers", *(queues or ["pipelines", "io", "cpu", "training"])],
                                env=env, stdout=out, stderr=subprocess.STDOUT)


def server_pid() -> int | None:
    """The dev server this process started (its child named temporal)."""
    return next((pid for pid, name in children(os.getpid()).items() if name.startswith("temporal")), None)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def wait_pollers(client, queues: QueueSet) -> None:
    from mlwright.readiness import wait_for_workers

    await wait_for_workers(client, queues, timeout_s=120)


async def orchestration_share(handle) -> tuple[float, float]:
    """(run seconds from first to last event, share of it with no step executing)."""
    started: dict[int, float] = {}
    spans, first, last = [], None, None
    async for event in handle.fetch_history_events():
        t = event.event_time.ToDatetime().timestamp()
        first, last = first or t, t
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.activity_task_started_event_attributes.scheduled_event_id] = t
        elif event.event_type in (EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED):
            attrs = (event.activity_task_completed_event_attributes
                     if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                     else event.activity_task_failed_event_attributes)
            spans.append((started[attrs.scheduled_event_id], t))
    busy, edge = 0.0, first
    for begin, end in sorted(spans):  # length of the union of execution intervals
        begin = max(begin, edge)
        if end > begin:
            busy, edge = busy + end - begin, end
    total = last - first
    return total, 1 - busy / total


async def run_once(env, settings: Settings, queues: QueueSet, day: date) -> tuple[PatientRiskResult, float, float, float]:
    started = time.perf_counter()
    handle = await env.client.start_workflow("PatientRiskPipeline", PatientRiskInput(run_date=day),
                                             id=f"bench-{uuid.uuid4().hex[:8]}", task_queue=queues.pipelines,
                                             result_type=PatientRiskResult)
    result = await handle.result()
    wall = time.perf_counter() - started
    total, share = await orchestration_share(handle)
    return result, wall, total, share


async def main(sizes: list[int], recovery_size: int | None) -> None:
    root = Path(tempfile.mkdtemp(prefix="mlwright-bench-"))
    settings = Settings(environment="test", home=root / "state", graceful_shutdown_s=0)
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_binary(),
                                                dev_server_extra_args=[*tuning_args(settings), *visibility.dev_server_args()],
                                                **client_options(settings),
                                                dev_server_database_filename=str(root / "temporal.db"))
    address = env.client.service_client.config.target_host
    servers = [pharmacy.serve(settings.resolved_sources_root / "pharmacy" / "fills.parquet"),
               fhir.serve(root / "fhir.db", parse_processes=settings.dev_fhir_parse_processes)]
    inbox_server, inbox = alert_inbox.serve(root / "alerts.jsonl")
    for server in [*servers, inbox_server]:
        server.start()
    routes = {"critical": [f"{inbox_server.url}/alerts"], "warning": [f"{inbox_server.url}/alerts"], "info": []}
    settings = settings.model_copy(update={"pharmacy_url": servers[0].url, "fhir_url": f"{servers[1].url}/fhir",
                                           "alert_routes": routes})
    rows = []
    try:
        settings = settings.model_copy(update={"task_queue_prefix": "boot-"})
        proc = worker(settings, address, root / "boot.log")
        await wait_pollers(env.client, QueueSet("boot-"))
        await bootstrap.train_models(env.client, settings, patients=20_000, seed=5, run_date=RUN_DATE,
                                     say=lambda line: print(line, flush=True))
        proc.terminate()
        proc.wait()
        for i, n in enumerate(sizes):
            # Each population scores its own date: downstream systems hold one population per date,
            # and verify_writes rightly refuses a date that still holds another population's rows.
            day = RUN_DATE - timedelta(days=i + 1)
            t0 = time.perf_counter()
            bootstrap.seed_sources(settings, n, seed=7, run_date=day)
            seed_s = time.perf_counter() - t0
            prefix = f"n{n}-"
            sized = settings.model_copy(update={"task_queue_prefix": prefix})
            procs = workers(sized, address, root / f"worker-{n}.log")
            await wait_pollers(env.client, QueueSet(prefix))
            # CPU per process over the run: on 2 shared cores their sum, not one step, bounds the wall.
            pids = {q: p.pid for q, p in procs.items()}
            if (temporal := server_pid()) is not None:
                pids["temporal"] = temporal
            # This process's other children are the services' parser processes.
            others = set(pids.values())
            cpu0 = {q: cpu_s(pid) for q, pid in pids.items()}
            own0 = cpu_with_children_s(os.getpid(), exclude=others)
            result, wall, total, share = await run_once(env, sized, QueueSet(prefix), day)
            cpu = {q: cpu_s(pid) - cpu0[q] for q, pid in pids.items()}
            cpu["services+bench"] = cpu_with_children_s(os.getpid(), exclude=others) - own0
            peaks = stop(procs)
            rows.append((n, seed_s, wall, share, max(peaks.values()), result))
            print(f"{n:>9,} patients: end to end {wall:7.1f} s, orchestration {share:6.2%} of {total:.1f} s, "
                  f"worker peaks (MB) {', '.join(f'{q} {v:.0f}' for q, v in peaks.items())} "
                  f"(seeding {seed_s:.1f} s); tiers {result.tiers}", flush=True)
            print(f"{n:>9,} patients: CPU s in the run {', '.join(f'{q} {v:.1f}' for q, v in cpu.items())}; "
                  f"sum {sum(cpu.values()):.1f} over {wall:.1f} s of wall", flush=True)
            print(f"{n:>9,} patients: written {written(settings, root, day.isoformat())}, "
                  f"alerts sent {result.alerts_sent}", flush=True)
        if recovery_size:
            await recovery(env, settings, address, root, recovery_size, inbox)
    finally:
        for server in [*servers, inbox_server]:
            server.stop()
        await env.shutdown()
    if not rows:
        return
    print("\nper-step seconds (workflow-side, scheduling included):")
    print(f"{'#':>3} {'step':<24}" + "".join(f"{n:>12,}" for n, *_ in rows))
    for i, step in enumerate(rows[0][5].steps):
        print(f"{step.number:>3} {step.name:<24}" + "".join(f"{r[5].steps[i].duration_s or 0:>12.2f}" for r in rows))


def written(settings: Settings, root: Path, day: str) -> str:
    """What the run left downstream, as counts and digests to compare across versions: care rows
    and their checksum, FHIR resources and the digest of their stored bodies, accepted alerts and the
    digest of their bodies (less the run's own workflow id and link)."""
    care_rows = care.rows_for(make_engine(settings.resolved_care_database_url), day)
    db = sqlite3.connect(root / "fhir.db")
    bodies = sorted(b for (b,) in db.execute("select body from resource where date = ?", (day,)))
    db.close()
    alerts = sorted(json.dumps({k: v for k, v in a.items() if k not in ("run_url", "workflow_id", "run_id")},
                               sort_keys=True)
                    for line in (root / "alerts.jsonl").read_text().splitlines()
                    if (a := json.loads(line)).get("run_date") == day and a.get("kind") == "high_risk_patient")
    digest = lambda items: hashlib.sha256("\n".join(items).encode()).hexdigest()[:12]  # noqa: E731
    return (f"care {len(care_rows)} rows checksum {fhir_resources.checksum(care_rows)[:12]}, "
            f"fhir {len(bodies)} resources digest {digest(bodies)}, inbox {len(alerts)} alerts digest {digest(alerts)}")


async def recovery(env, settings: Settings, address: str, root: Path, n: int, inbox) -> None:
    day = RUN_DATE - timedelta(days=30)
    bootstrap.seed_sources(settings, n, seed=7, run_date=day)
    full = settings.model_copy(update={"task_queue_prefix": f"full{n}-"})
    procs = workers(full, address, root / "full.log")
    await wait_pollers(env.client, QueueSet(full.task_queue_prefix))
    fulls = [(await run_once(env, full, QueueSet(full.task_queue_prefix), day))[1] for _ in range(3)]
    stop(procs)
    drill = settings.model_copy(update={"task_queue_prefix": f"drill{n}-"})
    procs = workers(drill, address, root / "drill.log", fault="model_deterioration:3")
    queues = QueueSet(drill.task_queue_prefix)
    await wait_pollers(env.client, queues)
    handle = await env.client.start_workflow("PatientRiskPipeline", PatientRiskInput(run_date=day),
                                             id=f"drill-{uuid.uuid4().hex[:8]}", task_queue=queues.pipelines,
                                             result_type=PatientRiskResult)
    while not any(a.get("workflow_id") == handle.id and a["kind"] == "step_failed" for a in inbox.received):
        await asyncio.sleep(0.02)
    paged = time.perf_counter()
    await handle.execute_update("retry_step", RetryStep(step="model_deterioration", operator="bench", reason="drill"))
    await handle.result()
    recovered = time.perf_counter() - paged
    stop(procs)
    full_median = statistics.median(fulls)
    print(f"\nrecovery at {n:,} patients: page -> completed after retry_step {recovered:.1f} s; "
          f"full run median {full_median:.1f} s (of {[round(f, 1) for f in fulls]}); "
          f"ratio {recovered / full_median:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--recovery-size", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.recovery_size or None))
    exit_now(0)
