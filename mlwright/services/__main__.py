"""`python -m mlwright.services`: the dev stack's pharmacy API, FHIR endpoint and alert inbox."""

from __future__ import annotations

import logging
import os
import signal
import threading
from urllib.parse import urlparse

from mlwright.logs import setup_logging  # not mlwright.telemetry: no SDK or OpenTelemetry here
from mlwright.private import PRIVATE_UMASK
from mlwright.services import alert_inbox, fhir, pharmacy
from mlwright.settings import get_settings

log = logging.getLogger("mlwright.services")


def main() -> None:
    os.umask(PRIVATE_UMASK)  # the FHIR database and the alert log hold patient data
    settings = get_settings()
    setup_logging(settings)
    home = settings.home.resolve()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    servers = [
        pharmacy.serve(settings.resolved_sources_root / "pharmacy" / "fills.parquet",
                       port=urlparse(settings.pharmacy_url).port or 80),
        fhir.serve(home / "fhir.db", port=urlparse(settings.fhir_url).port or 80,
                   parse_processes=settings.dev_fhir_parse_processes),
        alert_inbox.serve(home / "logs" / "alerts.jsonl", port=settings.dev_alert_inbox_port)[0],
    ]
    for server in servers:
        server.start()
    log.info("pharmacy API %s, FHIR %s, alert inbox %s (alerts also in %s)", servers[0].url,
             servers[1].url + "/fhir", servers[2].url + "/alerts", home / "logs" / "alerts.jsonl")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    for server in servers:
        server.stop()


if __name__ == "__main__":
    main()
