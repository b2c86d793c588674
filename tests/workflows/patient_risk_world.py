"""A small hospital for the patient-risk tests: seeded sources, loopback services, trained models."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from mlwright.patient_risk import bootstrap
from mlwright.services import fhir, pharmacy
from mlwright.services.alert_inbox import AlertInbox
from mlwright.services.http import JsonServer
from mlwright.settings import Settings

RUN_DATE = date(2026, 11, 27)
PATIENTS = 300


@dataclass
class Dial:
    """A service's request count, and a delay added to each request: tests raise it to hold a step
    open, and count requests to see a step stop."""

    delay: float = 0.0
    calls: int = 0
    by_date: Counter = field(default_factory=Counter)  # requests per `as_of` query parameter (a run's date)
    busy: int = 0
    peak_busy: int = 0  # most requests handled at once: shows a step's senders overlapping
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, handle):
        def slowed(method, path, query, body):
            with self._lock:
                self.calls += 1
                self.by_date[query.get("as_of")] += 1
                self.busy += 1
                self.peak_busy = max(self.peak_busy, self.busy)
            try:
                time.sleep(self.delay)
                return handle(method, path, query, body)
            finally:
                with self._lock:
                    self.busy -= 1

        return slowed


@dataclass
class World:
    settings: Settings
    inbox: AlertInbox
    fhir: Dial
    pharmacy: Dial
    alerts: Dial

    def variant(self, **changes) -> Settings:
        """Same systems and state, a fresh task-queue prefix (so fresh workers), and ``changes``."""
        return self.settings.model_copy(update={"task_queue_prefix": f"pr{uuid.uuid4().hex[:8]}-", **changes})

    def env(self, settings: Settings, address: str) -> dict[str, str]:
        """The same settings as environment variables, for a worker in another process."""
        return {"MLWRIGHT_HOME": str(settings.home), "MLWRIGHT_TEMPORAL_ADDRESS": address,
                "MLWRIGHT_TASK_QUEUE_PREFIX": settings.task_queue_prefix, "MLWRIGHT_FHIR_URL": settings.fhir_url,
                "MLWRIGHT_PHARMACY_URL": settings.pharmacy_url, "MLWRIGHT_ALERT_ROUTES": json.dumps(settings.alert_routes),
                "MLWRIGHT_GRACEFUL_SHUTDOWN_S": "0", "MLWRIGHT_ENVIRONMENT": "test"}


def start_services(root: Path) -> tuple[Settings, AlertInbox, dict[str, Dial], list[JsonServer]]:
    root.mkdir(parents=True, exist_ok=True)
    settings = Settings(environment="test", home=root / "state", graceful_shutdown_s=0)
    dials = {"fhir": Dial(), "pharmacy": Dial(), "alerts": Dial()}
    pharmacy_api = pharmacy.PharmacyApi(settings.resolved_sources_root / "pharmacy" / "fills.parquet")
    pharmacy_server = JsonServer(dials["pharmacy"].wrap(pharmacy_api.handle)).start()
    fhir_server = JsonServer(dials["fhir"].wrap(fhir.FhirStore(root / "fhir.db").handle)).start()
    inbox = AlertInbox()
    inbox_server = JsonServer(dials["alerts"].wrap(inbox.handle)).start()
    routes = {"critical": [f"{inbox_server.url}/alerts"], "warning": [f"{inbox_server.url}/alerts"], "info": []}
    settings = settings.model_copy(update={"pharmacy_url": pharmacy_server.url, "fhir_url": f"{fhir_server.url}/fhir",
                                           "alert_routes": routes})
    bootstrap.seed_sources(settings, PATIENTS, seed=11, run_date=RUN_DATE)
    return settings, inbox, dials, [pharmacy_server, fhir_server, inbox_server]
