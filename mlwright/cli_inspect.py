"""`mlwright inspect WORKFLOW_ID`: a run's status and, decoded, its result or why it failed.

Results and failure messages are sealed (README, "Patient data safety"). With the codec server,
`temporal workflow result/describe` decode results, but a failure still reads "Encoded failure":
the CLI does not decode a failure's sealed attributes. This command reads through the client,
which holds the keys.
"""

from __future__ import annotations

import asyncio
import json
import sys

from mlwright.settings import Settings


def add_parser(sub) -> None:
    cmd = sub.add_parser("inspect", help="a run's status and, decoded, its result or why it failed")
    cmd.add_argument("workflow_id")
    cmd.add_argument("--run-id", help="one run of the id (default: the latest)")
    cmd.add_argument("--json", action="store_true", help="one JSON object")
    cmd.set_defaults(handler=run)


async def inspect(client, workflow_id: str, run_id: str | None = None) -> dict:
    # Imported here, not with the command's parser: every `mlwright` command builds that.
    from temporalio.client import WorkflowExecutionStatus as Status
    from temporalio.client import WorkflowFailureError
    from temporalio.service import RPCError, RPCStatusCode

    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    try:
        described = await handle.describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise RuntimeError(f"workflow_id: no run {workflow_id!r} in namespace {client.namespace!r}") from None
        raise
    status = described.status
    found = {"workflow_id": described.id, "run_id": described.run_id, "type": described.workflow_type,
             "status": status.name.lower() if status else "unknown",
             "started": described.start_time.isoformat(),
             "closed": described.close_time.isoformat() if described.close_time else None}
    pinned = client.get_workflow_handle(workflow_id, run_id=described.run_id)
    if status == Status.COMPLETED:
        found["result"] = await pinned.result(follow_runs=False)
    elif status in (Status.FAILED, Status.TIMED_OUT, Status.TERMINATED, Status.CANCELED):
        try:
            await pinned.result(follow_runs=False)
        except WorkflowFailureError as e:
            found["failure"] = _causes(e.cause)
    return found


def _causes(error: BaseException | None) -> list[dict]:
    """The failure and what caused it, outermost first."""
    from temporalio.exceptions import ApplicationError

    chain = []
    while error is not None:
        kind = error.type if isinstance(error, ApplicationError) and error.type else type(error).__name__
        chain.append({"type": kind, "message": getattr(error, "message", None) or str(error)})
        error = error.cause if hasattr(error, "cause") else error.__cause__
    return chain


def as_text(found: dict) -> str:
    lines = [f"{found['workflow_id']} ({found['type']}), run {found['run_id']}",
             f"  status   {found['status']}", f"  started  {found['started']}"]
    if found["closed"]:
        lines.append(f"  closed   {found['closed']}")
    for i, cause in enumerate(found.get("failure", [])):
        message = cause["message"].replace("\n", "\n" + " " * 11)
        lines.append(f"  {'failure' if i == 0 else 'cause':<8} {cause['type']}: {message}")
    if "result" in found:
        lines.append("  result   " + json.dumps(found["result"], indent=2).replace("\n", "\n  "))
    return "\n".join(lines)


def run(args, settings: Settings) -> None:
    from mlwright.client import connect

    async def go() -> dict:
        return await inspect(await connect(settings), args.workflow_id, args.run_id)

    found = asyncio.run(go())
    sys.stdout.write((json.dumps(found) if args.json else as_text(found)) + "\n")
