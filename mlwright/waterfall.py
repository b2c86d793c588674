"""A run's spans as a terminal waterfall: one row per span, indented by parentage, bars on one time axis.

Temporal's scheduling spans (StartActivity, StartChildWorkflow: instants in workflow code) are
folded away unless asked for, so each step's attempts sit right under the workflow that ran them.
"""

from __future__ import annotations

from mlwright.span_store import StoredSpan

_SCHEDULING = ("StartActivity:", "StartChildWorkflow:", "StartNexusOperation:")
_LABELS = {"RunActivity:": "", "RunWorkflow:": "workflow ", "phase:": "· ", "StartWorkflow:": "start ",
           "HandleUpdate:": "update ", "ValidateUpdate:": "validate update ", "HandleSignal:": "signal ",
           "HandleQuery:": "query ", "StartWorkflowUpdate:": "send update ", "SignalWorkflow:": "send signal "}
BAR = 32


def render(spans: list[StoredSpan], *, scheduling: bool = False) -> str:
    if not spans:
        return "no spans"
    by_id = {s.span_id: s for s in spans}
    children: dict[str | None, list[StoredSpan]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in by_id else None
        children.setdefault(parent, []).append(span)

    def visible_children(parent: str | None) -> list[StoredSpan]:
        out = []
        for span in children.get(parent, []):
            if not scheduling and span.name.startswith(_SCHEDULING):
                out += visible_children(span.span_id)
            else:
                out.append(span)
        return sorted(out, key=lambda s: (s.start_ns, s.name))

    t0 = min(s.start_ns for s in spans)
    total = max(max(s.end_ns for s in spans) - t0, 1)
    header = f"{'offset':>9} {'duration':>9}  {'status':<6} {'try':>3}  {'queue':<20} {'span':<44} timeline"
    lines = [header]

    def walk(span: StoredSpan, depth: int) -> None:
        a = span.attributes
        attempt = a.get("mlwright.attempt", "")
        queue = str(a.get("mlwright.queue", ""))[-20:]
        name = ("  " * depth + label(span.name))[:44]
        start = (span.start_ns - t0) / 1e9
        status = "error" if span.status == "error" else "ok"  # OpenTelemetry leaves success "unset"
        lines.append(f"{start:>8.3f}s {(span.end_ns - span.start_ns) / 1e9:>8.3f}s  {status:<6} "
                     f"{attempt!s:>3}  {queue:<20} {name:<44} {bar(span, t0, total)}")
        for child in visible_children(span.span_id):
            walk(child, depth + 1)

    for root in visible_children(None):
        walk(root, 0)
    return "\n".join(lines)


def label(name: str) -> str:
    for prefix, shown in _LABELS.items():
        if name.startswith(prefix):
            return shown + name[len(prefix):]
    return name


def bar(span: StoredSpan, t0: int, total: int) -> str:
    begin = int((span.start_ns - t0) / total * BAR)
    end = max(begin + 1, int(round((span.end_ns - t0) / total * BAR)))
    mark = "x" if span.status == "error" else "█"
    return "|" + " " * begin + mark * (min(end, BAR) - begin) + " " * (BAR - min(end, BAR)) + "|"


def summary(spans: list[StoredSpan], workflow_id: str) -> str:
    """The lines above the waterfall: what the trace is, and whether the run has closed."""
    trace_id = spans[0].trace_id
    steps = [s for s in spans if s.name.startswith("RunActivity:")]
    failed = sum(1 for s in steps if s.status == "error")
    run = [s for s in spans if s.name.startswith("RunWorkflow:") and s.attributes.get("temporalWorkflowID")
           == workflow_id]
    state = "run closed" if run else "run still open (its workflow span is exported when it closes)"
    return (f"trace {trace_id}  workflow {workflow_id}\n{len(steps)} step attempts ({failed} failed), "
            f"{len(spans)} spans; {state}")
