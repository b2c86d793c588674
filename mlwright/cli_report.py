"""`mlwright report`: reliability, cost and right-sizing over a window of runs."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mlwright.settings import Settings

_WINDOW = re.compile(r"^(\d+)([hd])$")


def add_parser(sub) -> None:
    rep = sub.add_parser("report", help="success rate, MTTR, manual interventions, durations, cost, right-sizing")
    when = rep.add_mutually_exclusive_group()
    when.add_argument("--since", type=_since, help="runs started on or after YYYY-MM-DD[THH:MM] (UTC)")
    when.add_argument("--window", type=_window, help="runs started in the last N hours or days, e.g. 24h, 7d "
                      "(default 7d)")
    rep.add_argument("--pipeline", help="only this pipeline, e.g. PatientRiskPipeline")
    rep.add_argument("--json", action="store_true", help="the figures as JSON")
    rep.add_argument("--html", type=Path, metavar="FILE", help="also write a self-contained HTML page with charts")
    rep.set_defaults(handler=run)


def _since(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--since: {text!r} is not YYYY-MM-DD[THH:MM]") from e
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _window(text: str) -> timedelta:
    match = _WINDOW.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"--window: {text!r} is not N followed by h or d, e.g. 24h, 7d")
    n, unit = int(match[1]), match[2]
    return timedelta(hours=n) if unit == "h" else timedelta(days=n)


def concurrency_of(settings: Settings) -> dict[str, int]:
    return {"io": settings.io_concurrency, "cpu": settings.cpu_concurrency,
            "training": settings.training_concurrency}


def build(settings: Settings, since: datetime, pipeline: str | None, runs) -> object:
    from mlwright.reporting.figures import compute
    from mlwright.reporting.sources import load_alerts, load_attempts
    from mlwright.store.db import open_store

    engine = open_store(settings.resolved_database_url)
    alerts = load_alerts(engine, since)
    if pipeline:
        alerts = [a for a in alerts if a.workflow_id is None or any(r.workflow_id == a.workflow_id for r in runs)]
    return compute(runs, load_attempts(engine, since, pipeline), alerts, since=since, until=datetime.now(UTC),
                   concurrency=concurrency_of(settings))


def run(args, settings: Settings) -> None:
    from mlwright.client import connect
    from mlwright.reporting import render
    from mlwright.reporting.sources import load_runs

    since = args.since or datetime.now(UTC) - (args.window or timedelta(days=7))

    async def runs():
        return await load_runs(await connect(settings), since, args.pipeline)

    try:
        facts = asyncio.run(runs())
    except ValueError as e:
        raise RuntimeError(str(e)) from e
    report = build(settings, since, args.pipeline, facts)
    sys.stdout.write((render.as_json(report) if args.json else render.as_text(report)) + "\n")
    if args.html:
        args.html.write_text(render.as_html(report))
        if not args.json:
            sys.stdout.write(f"wrote {args.html}\n")
