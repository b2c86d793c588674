"""`mlwright schedules apply FILE [--prune]` and `mlwright schedules list`."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from mlwright.settings import Settings


def add_parser(sub) -> None:
    sched = sub.add_parser("schedules", help="Temporal Schedules and pipeline dependencies from a TOML file")
    sched_sub = sched.add_subparsers(required=True, metavar="ACTION")
    apply = sched_sub.add_parser("apply", help="create/update schedules and dependencies; unchanged ones are left")
    apply.add_argument("file", type=Path, help="e.g. deploy/schedules.example.toml")
    apply.add_argument("--prune", action="store_true",
                       help="also delete schedules (made by mlwright) and dependencies not in the file")
    apply.set_defaults(handler=_apply)
    listing = sched_sub.add_parser("list", help="the schedules and dependencies applied for this deployment")
    listing.set_defaults(handler=_list)


def _apply(args: argparse.Namespace, settings: Settings) -> None:
    from mlwright import schedule_file, schedules
    from mlwright.client import connect
    from mlwright.queues import QueueSet

    try:
        parsed = schedule_file.load(args.file)  # the whole file first: a bad one applies nothing
    except schedule_file.ScheduleFileError as e:
        raise RuntimeError(f"nothing applied: {e}") from e

    async def run() -> None:
        from temporalio.service import RPCError

        client = await connect(settings)
        try:
            await schedules.apply(client, parsed, QueueSet(settings.task_queue_prefix),
                                  settings.resolved_database_url, prune=args.prune, say=print)
        except RPCError as e:  # the lines printed so far say what was applied before it
            raise RuntimeError(f"the server refused a change ({e.message}); re-run apply once fixed") from e

    asyncio.run(run())


def _list(_args: argparse.Namespace, settings: Settings) -> None:
    from mlwright import schedules
    from mlwright.client import connect
    from mlwright.queues import QueueSet
    from mlwright.store import dependencies
    from mlwright.store.db import open_store, session_scope

    async def rows() -> list[dict]:
        return await schedules.describe_all(await connect(settings), QueueSet(settings.task_queue_prefix))

    print(schedules.table(asyncio.run(rows())))
    with session_scope(open_store(settings.resolved_database_url)) as session:
        deps = dependencies.all_dependencies(session)
    print("dependencies" + ("" if deps else ": none"))
    for d in deps:
        print(f"  {d.upstream} -> {d.downstream} (id {d.downstream}-<date>) input {d.input}")
