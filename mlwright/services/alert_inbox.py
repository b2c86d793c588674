"""An alert webhook receiver: `POST /alerts` records an alert, `GET /alerts` lists them.

Stands in for PagerDuty/Slack/Teams webhooks in the dev stack and in tests; it records every
delivery it receives (duplicates included), so a test can count what really arrived. Memory is
bounded: a body over ``MAX_BODY`` is refused unread (413) and ``received`` keeps the newest
``MAX_KEPT`` alerts (the log file keeps all).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from mlwright.services.http import JsonServer

MAX_BODY = 64 << 10  # an alert is ~1 KB; a failed-step page with its commands ~3 KB
MAX_KEPT = 2_000  # with MAX_BODY: at most ~128 MB of alerts held, ~2 MB typical


class AlertInbox:
    def __init__(self, log_file: Path | None = None, max_kept: int = MAX_KEPT) -> None:
        self.received: list[dict] = []
        self.max_kept = max_kept
        self._lock = threading.Lock()
        self._log = log_file

    def handle(self, method: str, path: str, _query, body) -> tuple[int, object]:
        if path != "/alerts":
            return 404, {"error": "no such route"}
        if method == "GET":
            with self._lock:
                return 200, {"alerts": list(self.received)}
        if method == "POST" and isinstance(body, dict):
            with self._lock:
                self.received.append(body)
                del self.received[:-self.max_kept]
                if self._log:
                    with self._log.open("a") as out:
                        out.write(json.dumps(body) + "\n")
            return 202, {"accepted": True}
        return 400, {"error": "POST a JSON object"}


def serve(log_file: Path | None = None, port: int = 0) -> tuple[JsonServer, AlertInbox]:
    inbox = AlertInbox(log_file)
    return JsonServer(inbox.handle, port=port, max_body=MAX_BODY), inbox
