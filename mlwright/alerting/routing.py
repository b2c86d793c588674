"""What goes over the wire to each alert route, and how often.

The store keeps one row per alert (its key makes delivery exactly-once across retries); this
module only shapes that row for the receiver: PagerDuty Events API v2 for critical, a Slack
incoming-webhook message for warning, nothing for info (kept in the store, shown by the report).
The receiver-side dedup key is the incident, (pipeline, step, cause, date), so repeated failures of
one step for one cause on one day stay one incident, and the resolve event closes that incident.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from typing import Any

PD_SEVERITIES = {"critical": "critical", "warning": "warning", "info": "info"}


def incident_key(pipeline: str, step: str, cause: str, date: str) -> str:
    return f"{pipeline}/{step}/{_slug(cause) or 'failure'}/{date}"


def cause_of(error: str) -> str:
    """The error's kind, not its text: ids or values in a message must not split (or leak into) the key."""
    head = error.split(":", 1)[0].strip()
    return head if re.fullmatch(r"[A-Za-z_][\w.]{0,63}", head) else "failure"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:64]


def shape(fmt: str, *, key: str, severity: str, payload: dict[str, Any], routing_key: str) -> dict[str, Any] | None:
    """The body for a route of format ``fmt``; None: store only."""
    if fmt == "store":
        return None
    action = payload.get("event_action", "trigger")
    incident = payload.get("incident_key", key)
    if fmt == "pagerduty":
        if action == "resolve":
            return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": incident}
        return {"routing_key": routing_key, "event_action": "trigger", "dedup_key": incident,
                "payload": {"summary": summary(payload)[:1024], "severity": PD_SEVERITIES[severity],
                            "source": payload.get("pipeline", "mlwright"),
                            "component": payload.get("step"), "group": payload.get("pipeline"),
                            "class": payload.get("cause"), "custom_details": payload},
                "links": [{"href": payload["run_url"], "text": "Temporal run"}] if payload.get("run_url") else []}
    if fmt == "slack":
        icon = ":white_check_mark:" if action == "resolve" else ":warning:"
        text = f"{icon} {summary(payload)}"
        blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
        if payload.get("run_url"):
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{payload['run_url']}|run>"}]})
        # Slack ignores unknown fields; receivers that dedupe (the dev inbox) read these.
        return {"text": text, "blocks": blocks, "dedup_key": incident, "event_action": action}
    return {"dedup_key": key, "severity": severity, **payload}


def summary(payload: dict[str, Any]) -> str:
    where = f"{payload.get('pipeline', 'mlwright')} {payload.get('run_date', '')}".strip()
    kind = payload.get("kind")
    if kind == "step_failed":
        return f"{where}: step {payload.get('step_number')} {payload.get('step')} failed ({payload.get('cause')})"
    if kind == "step_resolved":
        return f"{where}: step {payload.get('step')} recovered"
    if kind == "high_risk_patient":
        return f"{where}: high-risk patient {payload.get('patient_id')} (tier {payload.get('tier')})"
    return f"{where}: {kind}"


class RateLimiter:
    """At most ``per_min`` deliveries per route in any 60 s (sliding window), per worker process."""

    def __init__(self, per_min: int | None, clock=time.monotonic) -> None:
        self.per_min, self.clock = per_min, clock
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, route: str) -> bool:
        if self.per_min is None:
            return True
        now = self.clock()
        with self._lock:
            window = self._sent.setdefault(route, deque())
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= self.per_min:
                return False
            window.append(now)
            return True
