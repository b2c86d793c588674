"""Custom search attributes: how operators find runs in the Temporal UI, the CLI and `mlwright runs`.

Workflows set them as their state changes (workflows/_visibility.py); this module names them,
registers them on a cluster, and turns `mlwright runs` filters into one visibility query. Values
are pipeline, model and step names, dates and states only: never patient data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from opentelemetry import trace
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from mlwright import search_attributes

PIPELINE = SearchAttributeKey.for_keyword("MlwrightPipeline")
MODEL = SearchAttributeKey.for_keyword("MlwrightModel")
RUN_DATE = SearchAttributeKey.for_datetime("MlwrightRunDate")
STATE = SearchAttributeKey.for_keyword("MlwrightState")
STEP = SearchAttributeKey.for_keyword("MlwrightStep")
TRIGGERED_BY = SearchAttributeKey.for_keyword("MlwrightTriggeredBy")
UPSTREAM = SearchAttributeKey.for_keyword("MlwrightUpstream")  # <workflow id>/<run id> of the run that triggered it
ALL = (PIPELINE, MODEL, RUN_DATE, STATE, STEP, TRIGGERED_BY, UPSTREAM)

# The memo that leads from a run to its trace (`mlwright trace`); spans carry the workflow id back.
TRACE_MEMO = "mlwright_trace_id"

# Set by the server on runs a Temporal Schedule started.
SCHEDULED_BY = SearchAttributeKey.for_keyword("TemporalScheduledById")

_TYPE = {key.name: "Datetime" if key is RUN_DATE else "Keyword" for key in ALL}  # as the CLI spells them
_API_TYPE = {"Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
             "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME}


def dev_server_args() -> list[str]:
    """`temporal server start-dev` flags that register every attribute at start."""
    return search_attributes.dev_server_args()


def register_command(namespace: str) -> str:
    """The one-time command an operator runs on a real cluster (also printed when they are missing)."""
    names = " ".join(f"--name {k.name} --type {_TYPE[k.name]}" for k in ALL)
    return (f"mlwright search-attributes register   (or: temporal operator search-attribute create "
            f"--namespace {namespace} {names})")


async def missing(client: Client) -> list[str]:
    """Names of mlwright's attributes the client's namespace does not know."""
    known = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace))
    have = set(known.custom_attributes) | set(known.system_attributes)
    return [k.name for k in ALL if k.name not in have]


async def register(client: Client) -> list[str]:
    """Register the missing attributes; returns the names added (none when all are there)."""
    try:
        absent = await missing(client)
    except RPCError as e:
        if e.status != RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server cannot list them
            raise
        absent = [k.name for k in ALL]
    if absent:
        await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
            namespace=client.namespace, search_attributes={name: _API_TYPE[_TYPE[name]] for name in absent}))
    return absent


class SearchAttributesMissing(RuntimeError):
    pass


async def require(client: Client, *, register_if_missing: bool) -> None:
    """Refuse to serve workflows on a namespace without the attributes (their upserts would fail
    every workflow task and leave runs stuck), registering them first when allowed."""
    try:
        absent = await (register(client) if register_if_missing else missing(client))
    except RPCError as e:
        raise SearchAttributesMissing(
            f"cannot check or register mlwright's search attributes on namespace {client.namespace!r} "
            f"({e.message}); an operator registers them once with: {register_command(client.namespace)}"
        ) from e
    if absent and not register_if_missing:
        raise SearchAttributesMissing(
            f"namespace {client.namespace!r} lacks the search attributes {absent}; register them once with: "
            f"{register_command(client.namespace)}")


# --- finding runs -------------------------------------------------------------------------------

_VALUE = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")


@dataclass(frozen=True)
class RunFilter:
    pipeline: str | None = None
    model: str | None = None
    state: str | None = None
    since: date | None = None
    run_date: date | None = None

    def query(self) -> str:
        parts = []
        for key, value in ((PIPELINE, self.pipeline), (MODEL, self.model), (STATE, self.state)):
            if value is not None:
                if not _VALUE.match(value):
                    raise ValueError(f"{key.name}: {value!r} is not a name (letters, digits, _ . : / -)")
                parts.append(f'{key.name} = "{value}"')
        if self.run_date is not None:
            parts.append(f'{RUN_DATE.name} = "{_midnight(self.run_date)}"')
        if self.since is not None:
            parts.append(f'StartTime >= "{_midnight(self.since)}"')
        # Runs mlwright never tagged (started before these attributes existed) are not listed.
        return " AND ".join(parts) or f"{PIPELINE.name} IS NOT NULL"


def _midnight(day: date) -> str:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat().replace("+00:00", "Z")


def run_date_value(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def find_runs(client: Client, flt: RunFilter, limit: int = 200) -> list[dict[str, Any]]:
    """One row per run, newest first: what `mlwright runs` prints."""
    rows = []
    try:
        async for wf in client.list_workflows(flt.query(), limit=limit):
            sa = wf.typed_search_attributes
            run_date = sa.get(RUN_DATE)
            ended = wf.close_time
            rows.append({
                "workflow_id": wf.id, "run_id": wf.run_id, "pipeline": sa.get(PIPELINE) or wf.workflow_type,
                "model": sa.get(MODEL), "run_date": run_date.date().isoformat() if run_date else None,
                "state": sa.get(STATE), "step": sa.get(STEP), "status": wf.status.name if wf.status else None,
                "triggered_by": sa.get(TRIGGERED_BY), "started": wf.start_time.isoformat(),
                "duration_s": round(((ended or datetime.now(UTC)) - wf.start_time).total_seconds(), 1),
            })
    except RPCError as e:
        if "search attribute" in e.message.lower():
            raise SearchAttributesMissing(
                f"the cluster does not know mlwright's search attributes ({e.message}); register them once "
                f"with: {register_command(client.namespace)}") from e
        raise
    return rows


def runs_table(rows: list[dict[str, Any]]) -> str:
    """A compact fixed-width table of `find_runs` rows."""
    if not rows:
        return "no runs match"
    columns = (("workflow_id", 36), ("pipeline", 19), ("model/date", 18), ("state", 18), ("step", 22),
               ("started", 19), ("duration", 9))
    lines = ["  ".join(name.ljust(width) for name, width in columns)]
    for r in rows:
        cells = (r["workflow_id"], r["pipeline"], r["model"] or r["run_date"] or "-",
                 r["state"] or (r["status"] or "-").lower(), r["step"] or "-", r["started"][:19].replace("T", " "),
                 f"{r['duration_s']:.0f}s")
        lines.append("  ".join(str(cell)[:width].ljust(width) for cell, (_, width) in zip(cells, columns,
                                                                                           strict=True)))
    return "\n".join(lines)


def current_trace_id() -> str:
    """The current span's trace id as 32 hex digits ('' when tracing is off); safe in workflow code."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""
