"""An alert webhook receiver: `POST /alerts` records an alert, `GET /alerts` lists them.

Stands in for PagerDuty/Slack/Teams webhooks in the dev stack and in tests; it records every
delivery it receives (duplicates included), so a test can count what really arrived.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from mlwright.services.http import JsonServer


class AlertInbox:
    def __init__(self, log_file: Path | None = None) -> None:
        self.received: list[dict] = []
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
                if self._log:
                    with self._log.open("a") as out:
                        out.write(json.dumps(body) + "\n")
            return 202, {"accepted": True}
        return 400, {"error": "POST a JSON object"}


def serve(log_file: Path | None = None, port: int = 0) -> tuple[JsonServer, AlertInbox]:
    inbox = AlertInbox(log_file)
    return JsonServer(inbox.handle, port=port), inbox
