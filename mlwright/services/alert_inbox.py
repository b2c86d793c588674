"""An alert webhook receiver: `POST /alerts` records an alert, `GET /alerts` lists them.

Stands in for PagerDuty/Slack/Teams webhooks in the dev stack and in tests. Like PagerDuty's
``dedup_key`` or Opsgenie's ``alias``, it accepts an alert once per dedup key (the sender's
``Idempotency-Key``, also in the body as ``dedup_key``): a repeat is acknowledged (200) but not
recorded again. It counts every delivery it receives besides the alerts it accepted, so a test
can count both what arrived and what a person would have seen. Memory is bounded: a body over
``MAX_BODY`` is refused unread (413) and ``received`` keeps the newest ``MAX_KEPT`` accepted alerts
(the log file keeps all).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

from mlwright.services.http import JsonServer

MAX_BODY = 64 << 10  # an alert is ~1 KB; a failed-step page with its commands ~3 KB
MAX_KEPT = 2_000  # with MAX_BODY: at most ~128 MB of alerts held, ~2 MB typical


class AlertInbox:
    def __init__(self, log_file: Path | None = None, max_kept: int = MAX_KEPT) -> None:
        self.received: list[dict] = []  # the newest accepted alerts, one per dedup key
        self.max_kept = max_kept
        self.accepted = 0
        self.deliveries: Counter[str] = Counter()  # POSTs received per dedup key, repeats included
        self._lock = threading.Lock()
        self._log = log_file

    def handle(self, method: str, path: str, _query, body) -> tuple[int, object]:
        if path != "/alerts":
            return 404, {"error": "no such route"}
        if method == "GET":
            with self._lock:
                return 200, {"alerts": list(self.received), "deliveries": sum(self.deliveries.values()),
                             "accepted": self.accepted}
        if method == "POST" and isinstance(body, dict):
            key = body.get("dedup_key")
            if key is not None and body.get("event_action") == "resolve":
                key = f"{key}#resolve"  # PagerDuty's resolve reuses the incident's key
            with self._lock:
                if key is not None:
                    self.deliveries[str(key)] += 1
                    if self.deliveries[str(key)] > 1:
                        return 200, {"accepted": False, "duplicate": True, "dedup_key": key}
                self.received.append(body)
                self.accepted += 1
                del self.received[:-self.max_kept]
                if self._log:
                    with self._log.open("a") as out:
                        out.write(json.dumps(body) + "\n")
            return 202, {"accepted": True}
        return 400, {"error": "POST a JSON object"}


def serve(log_file: Path | None = None, port: int = 0) -> tuple[JsonServer, AlertInbox]:
    inbox = AlertInbox(log_file)
    return JsonServer(inbox.handle, port=port, max_body=MAX_BODY), inbox
