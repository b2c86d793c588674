"""The `mlwright` command: run the embedded stack, workers, the demo, and inspect the registry."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from pydantic import ValidationError

from mlwright.private import PRIVATE_UMASK
from mlwright.settings import Settings, get_settings


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    os.umask(PRIVATE_UMASK)  # state, logs, sources and datasets may hold patient data: owner-only
    code = 0
    try:
        args.handler(args, get_settings())
    except ValidationError as e:
        print(f"mlwright: invalid settings (MLWRIGHT_* variables, .env or config file):\n{e}", file=sys.stderr)
        code = 2
    except (RuntimeError, TimeoutError) as e:
        print(f"mlwright: {e}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:  # Ctrl-C, or `mlwright down` while the stack was still starting
        code = 130
    exit_now(code)


def exit_now(code: int) -> None:
    """Exit without interpreter teardown.

    The Temporal SDK's native runtime can abort the interpreter while it shuts down
    (temporalio/sdk-python#300: "PyGILState_Release", exit 134) after all work is done; skipping
    teardown keeps a successful command successful. Output is flushed first.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlwright", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    dev = sub.add_parser("dev", help="run the Temporal dev server and all workers here; Ctrl-C stops all")
    dev.set_defaults(handler=_dev)
    up = sub.add_parser("up", help="start `mlwright dev` in the background and wait until it is ready")
    up.add_argument("--timeout", type=float, default=120)
    up.set_defaults(handler=_up)
    down = sub.add_parser("down", help="stop a stack started with `mlwright up`")
    down.set_defaults(handler=_down)

    worker = sub.add_parser("worker", help="serve one or more task queues (resource classes)")
    worker.add_argument("queues", nargs="+", choices=["pipelines", "io", "cpu", "training"])
    worker.set_defaults(handler=_worker)

    demo = sub.add_parser("demo", help="train, approve and promote a model on a bundled dataset")
    demo.add_argument("--estimator", default="logistic_regression")
    demo.set_defaults(handler=_demo)

    sample = sub.add_parser("sample-data", help="write a dataset bundled with scikit-learn to a file")
    sample.add_argument("name", choices=["breast_cancer", "diabetes", "wine"])
    sample.add_argument("--format", choices=["csv", "parquet"], default="csv")
    sample.add_argument("--dir", type=Path, default=None, help="default: <home>/data")
    sample.set_defaults(handler=_sample)

    sources = sub.add_parser("sources", help="the patient-risk source systems")
    sources_sub = sources.add_subparsers(required=True, metavar="ACTION")
    seed = sources_sub.add_parser("seed", help="(re)create the four source systems with synthetic patients")
    _population_args(seed)
    seed.set_defaults(handler=_sources_seed)

    risk = sub.add_parser("patient-risk", help="the patient-risk pipeline")
    risk_sub = risk.add_subparsers(required=True, metavar="ACTION")
    boot = risk_sub.add_parser("bootstrap", help="seed sources and train + promote the three models")
    _population_args(boot)
    boot.set_defaults(handler=_risk_bootstrap)
    risk_demo = risk_sub.add_parser("demo", help="seed, train if needed, and run the pipeline once")
    _population_args(risk_demo)
    risk_demo.set_defaults(handler=_risk_demo)
    catalog = risk_sub.add_parser("features", help="print the 47-feature catalog")
    catalog.set_defaults(handler=_risk_features)

    reg = sub.add_parser("registry", help="show a model's versions, stages and stage history")
    reg.add_argument("model_name")
    # --- approval audit (issue 9) ---
    reg.add_argument("--audit", action="store_true", help="show every approval decision and the rule that decided")
    reg.set_defaults(handler=_registry)

    runs = sub.add_parser("runs", help="find runs by pipeline, model, state or date (newest first)")
    runs.add_argument("--pipeline", help="e.g. TrainingPipeline, PatientRiskPipeline")
    runs.add_argument("--model", help="registry name of the model a training run trains")
    runs.add_argument("--state", help="e.g. running, awaiting_approval, awaiting_operator, canary, promoted")
    runs.add_argument("--run-date", type=date.fromisoformat, help="YYYY-MM-DD of a dated pipeline's run")
    runs.add_argument("--since", type=date.fromisoformat, help="started on or after YYYY-MM-DD")
    runs.add_argument("--limit", type=int, default=50)
    runs.add_argument("--json", action="store_true", help="one JSON object per run")
    runs.set_defaults(handler=_runs)

    tr = sub.add_parser("trace", help="print a run's trace as a waterfall (from the local span store)")
    tr.add_argument("workflow_id")
    tr.add_argument("--trace-id", help="this trace instead of the one recorded on the run (memo mlwright_trace_id)")
    tr.add_argument("--scheduling", action="store_true", help="also show Temporal's StartActivity spans")
    tr.set_defaults(handler=_trace)

    # --- schedules and dependencies (issue 7) ---
    from mlwright import cli_schedules
    cli_schedules.add_parser(sub)

    from mlwright import cli_backfill
    cli_backfill.add_parser(sub)

    from mlwright import cli_inspect
    cli_inspect.add_parser(sub)

    # --- report (issue 8) ---
    from mlwright import cli_report
    cli_report.add_parser(sub)

    # --- retraining monitor (issue 7) ---
    from mlwright import cli_monitor
    cli_monitor.add_parser(sub)

    attrs = sub.add_parser("search-attributes", help="mlwright's custom search attributes on the namespace")
    attrs_sub = attrs.add_subparsers(required=True, metavar="ACTION")
    attrs_sub.add_parser("register", help="register the missing ones (once per namespace)").set_defaults(
        handler=_register_search_attributes)
    # --- codec server (issue 9) ---
    codec = sub.add_parser("codec-server", help="serve Temporal's remote codec protocol (CLI and Web UI decoding)")
    codec.set_defaults(handler=_codec_server)
    return parser


def _codec_server(_args, settings: Settings) -> None:
    from mlwright.codec_server import serve

    serve(settings)


def _population_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--run-date", type=date.fromisoformat, default=date.today() - timedelta(days=1),
                        help="YYYY-MM-DD; default yesterday")


def _sources_seed(args, settings: Settings) -> None:
    from mlwright.patient_risk.bootstrap import seed_sources

    counts = seed_sources(settings, args.patients, args.seed, args.run_date)
    print(f"seeded {settings.resolved_sources_root} for {args.run_date}: {counts}")


def _risk_bootstrap(args, settings: Settings) -> None:
    asyncio.run(_with_stack(settings, lambda client: _bootstrap(client, args, settings)))


async def _bootstrap(client, args, settings: Settings) -> None:
    from mlwright.patient_risk.bootstrap import seed_sources, train_models

    print(f"seeded: {seed_sources(settings, args.patients, args.seed, args.run_date)}")
    await train_models(client, settings, max(args.patients, 5000), args.seed, args.run_date, say=print)


def _risk_features(_args, _settings: Settings) -> None:
    from mlwright.patient_risk.features import catalog_markdown

    print(catalog_markdown())


def _risk_demo(args, settings: Settings) -> None:
    from mlwright.patient_risk.demo import run_demo

    asyncio.run(_with_stack(settings, lambda client: run_demo(
        client, settings, args.patients, args.seed, args.run_date, say=lambda line: print(line, flush=True))))


async def _with_stack(settings: Settings, action) -> None:
    """Run ``action(client)`` once Temporal answers and every queue has a worker."""
    from mlwright.client import connect
    from mlwright.queues import QueueSet
    from mlwright.readiness import missing_pollers

    try:
        client = await connect(settings)
    except RuntimeError as e:
        raise RuntimeError(f"cannot reach Temporal at {settings.temporal_address} ({e}); run `mlwright up`") from e
    missing = await missing_pollers(client, QueueSet(settings.task_queue_prefix))
    if missing:
        raise RuntimeError(f"no worker serves {missing}; run `mlwright up` (or `mlwright dev`) first")
    await action(client)


def _pidfile(settings: Settings) -> Path:
    return settings.home.resolve() / "dev.pid"


def _dev(_args, settings: Settings) -> None:
    from mlwright.devstack import DevStack
    from mlwright.logs import setup_logging  # not mlwright.telemetry's: it imports the Temporal SDK

    setup_logging(settings)
    if not settings.payload_encryption:  # issue 9
        print("=" * 78 + "\nWARNING: MLWRIGHT_PAYLOAD_ENCRYPTION is off. Every input, result and failure is\n"
              "stored by Temporal and shown in its UI IN PLAINTEXT. Never use this with patient data.\n"
              + "=" * 78, file=sys.stderr, flush=True)
    stack = DevStack(settings)
    _pidfile(settings).parent.mkdir(parents=True, exist_ok=True)
    _pidfile(settings).write_text(str(os.getpid()))
    try:
        stack.start()
        # `mlwright up` is ready only once this is written: workers may poll before a service that
        # cannot start (a port in use) has exited, and that stack is about to stop.
        _startedfile(settings).write_text(str(os.getpid()))
        print(f"Temporal {settings.temporal_address}  Web UI {settings.ui_url}  logs {stack.logs}", flush=True)
        if settings.payload_encryption:  # issue 9
            where = "MLWRIGHT_CODEC_TOKEN" if settings.codec_token else settings.home / "codec-token"
            print(f"payloads encrypted; codec server {settings.codec_url} (token: {where})",
                  flush=True)
        print("workers: pipelines, io, cpu, training (restarted if one dies). Ctrl-C stops everything.",
              flush=True)
        stack.watch()
    finally:
        stack.stop()
        _startedfile(settings).unlink(missing_ok=True)
        _pidfile(settings).unlink(missing_ok=True)


def _startedfile(settings: Settings) -> Path:
    return settings.home.resolve() / "dev.started"


def _started(settings: Settings, pid: int) -> bool:
    try:
        return int(_startedfile(settings).read_text()) == pid
    except (FileNotFoundError, ValueError):
        return False


def _running_pid(settings: Settings) -> int | None:
    try:
        pid = int(_pidfile(settings).read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def _up(args, settings: Settings) -> None:
    pid = _running_pid(settings)
    if pid is None:
        log = settings.home.resolve() / "logs" / "dev.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        pid = _start_dev(log)
        print(f"started the dev stack (pid {pid}); log {log}")
    _wait_ready(settings, args.timeout, pid)
    print(f"ready: Temporal {settings.temporal_address}, Web UI {settings.ui_url}. Stop with: mlwright down")


def _start_dev(log: Path) -> int:
    """`mlwright dev` in its own session, logging to ``log``: forked from this process, which has
    imported the settings already, so the stack's start does not wait for a second interpreter
    (bench/README.md). Its command line stays this one's (`... up`); its name is mlwright-dev."""
    from mlwright.forked import set_name, thread_count

    with open(log, "ab") as out:
        if not hasattr(os, "fork") or thread_count() != 1:
            return subprocess.Popen([sys.executable, "-m", "mlwright.cli", "dev"], stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True).pid
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return pid
        try:
            os.setsid()  # outlives this command and its terminal, as the exec'd stack did
            set_name("mlwright-dev")
            os.dup2(out.fileno(), 1)
            os.dup2(out.fileno(), 2)
            main(["dev"])  # exits the process itself
        finally:
            os._exit(1)


def _wait_ready(settings: Settings, timeout_s: float, pid: int) -> None:
    """Until the stack says it started: `mlwright dev` writes dev.started once every worker has
    reported its queue polled and the server and every service answered (mlwright/devstack.py), so
    nothing here asks Temporal (and this process never loads its SDK)."""
    deadline = time.monotonic() + timeout_s
    logs = settings.home.resolve() / "logs"
    while not _started(settings, pid):
        if not _alive(pid):
            raise RuntimeError(f"the dev stack exited{_why(logs / 'dev.log')}; see {logs}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the dev stack did not finish starting in {timeout_s}s{_why(logs / 'dev.log')}")
        time.sleep(0.05)


def _why(dev_log: Path) -> str:
    """The latest trouble `mlwright dev` logged: why it gave up, or which process last died."""
    try:
        lines = dev_log.read_text(errors="replace").splitlines()[-200:]
    except OSError:
        return ""
    reasons = []
    for line in lines:
        if line.startswith("mlwright: "):  # what it printed when it gave up
            reasons.append(line.removeprefix("mlwright: "))
        elif " mlwright.dev: " in line and " stopped: " in line:  # a process that died
            reasons.append(line.partition(" mlwright.dev: ")[2])
    return f" (last: {reasons[-1]})" if reasons else ""


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it was our child
        return finished == 0
    except ChildProcessError:  # not our child: ask the kernel
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False


def _down(_args, settings: Settings) -> None:
    pid = _running_pid(settings)
    if pid is None:
        print("no dev stack is running")
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(300):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print(f"stopped the dev stack (pid {pid})")
            return
        time.sleep(0.1)
    raise RuntimeError(f"the dev stack (pid {pid}) did not stop within 30s")


def _worker(args, settings: Settings) -> None:
    from mlwright.queues import Resource
    from workers.serve import serve

    asyncio.run(serve([Resource(q) for q in args.queues], settings))


def _demo(args, settings: Settings) -> None:
    asyncio.run(_demo_async(args, settings))


async def _demo_async(args, settings: Settings) -> None:
    from mlwright.demo import run_demo

    await _with_stack(settings, lambda client: run_demo(client, settings, args.estimator,
                                                        say=lambda line: print(line, flush=True)))


def _sample(args, settings: Settings) -> None:
    from mlwright.sample_data import write_sample

    print(write_sample(args.name, args.dir or settings.home / "data", args.format).resolve())


def _runs(args, settings: Settings) -> None:
    import json

    from mlwright.client import connect
    from mlwright.visibility import RunFilter, find_runs, runs_table

    try:
        flt = RunFilter(pipeline=args.pipeline, model=args.model, state=args.state, since=args.since,
                        run_date=args.run_date)
        flt.query()
    except ValueError as e:
        raise RuntimeError(str(e)) from e

    async def find() -> list[dict]:
        return await find_runs(await connect(settings), flt, limit=args.limit)

    rows = asyncio.run(find())
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(runs_table(rows))


def _register_search_attributes(_args, settings: Settings) -> None:
    from mlwright.client import connect
    from mlwright.visibility import register

    async def run() -> list[str]:
        return await register(await connect(settings))

    added = asyncio.run(run())
    print(f"registered {added} on namespace {settings.temporal_namespace}" if added
          else f"namespace {settings.temporal_namespace} already has every mlwright search attribute")


def _trace(args, settings: Settings) -> None:
    from mlwright.span_store import open_span_store
    from mlwright.waterfall import render, summary

    store = open_span_store(settings)
    trace_id = args.trace_id or _recorded_trace_id(settings, args.workflow_id)
    if not trace_id:  # no server, or a run from before trace ids were recorded: the store knows its spans
        found = store.trace_ids_of(args.workflow_id)
        trace_id = found[0] if found else None
    spans = store.spans_of(trace_id) if trace_id else []
    if not spans:
        raise RuntimeError(f"no spans of {args.workflow_id!r} in {store.path}: did its workers run with this "
                           "MLWRIGHT_HOME and MLWRIGHT_TRACE_STORE on?")
    print(summary(spans, args.workflow_id))
    print(f"Web UI {settings.run_url(args.workflow_id)}")
    print(render(spans, scheduling=args.scheduling))


def _recorded_trace_id(settings: Settings, workflow_id: str) -> str | None:
    """The trace id the run's latest execution recorded in its memo; None when it cannot be read."""
    from temporalio.service import RPCError

    from mlwright.client import connect
    from mlwright.visibility import TRACE_MEMO

    async def read() -> str | None:
        described = await (await connect(settings)).get_workflow_handle(workflow_id).describe()
        return (await described.memo()).get(TRACE_MEMO) or None

    try:
        return asyncio.run(asyncio.wait_for(read(), timeout=5))
    except (RPCError, RuntimeError, TimeoutError, OSError):
        return None


def _registry(args, settings: Settings) -> None:
    from mlwright.store import registry
    from mlwright.store.db import open_store, session_scope

    engine = open_store(settings.resolved_database_url)
    if getattr(args, "audit", False):
        from mlwright.cli_approvals import print_audit
        return print_audit(engine, args.model_name)
    with session_scope(engine) as session:
        versions = registry.list_versions(session, model_name=args.model_name)
        if not versions:
            print(f"no versions of {args.model_name!r} in {settings.resolved_database_url}")
            return
        stages = {}
        for stage in ("staging", "canary", "production"):
            holder = registry.stage_holder(session, model_name=args.model_name, stage=stage)
            if holder:
                stages.setdefault(holder.version, []).append(
                    stage if holder.traffic_fraction == 1 else f"{stage} {holder.traffic_fraction:.0%}")
        print(f"{args.model_name}: versions")
        for v in versions:
            metrics = ", ".join(f"{k}={val:.4f}" for k, val in sorted(v.metrics.items()))
            print(f"  v{v.version} {v.estimator:<20} [{', '.join(stages.get(v.version, [])) or '-'}] "
                  f"data {v.data_sha256[:12]} ({v.data_rows} rows) model {v.artifact_sha256[:12]}  {metrics}")
        print("stage history")
        for t in registry.transitions(session, model_name=args.model_name):
            target = f"v{t.version}" if t.version is not None else "(emptied)"
            print(f"  {t.at:%Y-%m-%d %H:%M:%S} {t.stage:<10} {target:<10} by {t.actor}: {t.reason}")


if __name__ == "__main__":
    main()
