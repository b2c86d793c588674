"""A small hospital for the patient-risk tests: seeded sources, loopback services, trained models."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from mlwright.patient_risk import bootstrap
from mlwright.services import alert_inbox, fhir, pharmacy
from mlwright.services.alert_inbox import AlertInbox
from mlwright.settings import Settings

RUN_DATE = date(2026, 11, 27)
PATIENTS = 300


@dataclass
class World:
    settings: Settings
    inbox: AlertInbox
    fhir_delay: list[float]  # seconds each FHIR request waits; tests raise it to hold a step open

    def variant(self, **changes) -> Settings:
        """Same systems and state, a fresh task-queue prefix (so fresh workers), and ``changes``."""
        return self.settings.model_copy(update={"task_queue_prefix": f"pr{uuid.uuid4().hex[:8]}-", **changes})

    def env(self, settings: Settings, address: str) -> dict[str, str]:
        """The same settings as environment variables, for a worker in another process."""
        return {"MLWRIGHT_HOME": str(settings.home), "MLWRIGHT_TEMPORAL_ADDRESS": address,
                "MLWRIGHT_TASK_QUEUE_PREFIX": settings.task_queue_prefix, "MLWRIGHT_FHIR_URL": settings.fhir_url,
                "MLWRIGHT_PHARMACY_URL": settings.pharmacy_url, "MLWRIGHT_ALERT_ROUTES": json.dumps(settings.alert_routes),
                "MLWRIGHT_GRACEFUL_SHUTDOWN_S": "0", "MLWRIGHT_ENVIRONMENT": "test"}


def start_services(root: Path, fhir_delay: list[float]):
    root.mkdir(parents=True, exist_ok=True)
    settings = Settings(environment="test", home=root / "state", graceful_shutdown_s=0)
    pharmacy_server = pharmacy.serve(settings.resolved_sources_root / "pharmacy" / "fills.parquet").start()
    store = fhir.FhirStore(root / "fhir.db")

    def slow_fhir(method, path, query, body):
        time.sleep(fhir_delay[0])
        return store.handle(method, path, query, body)

    from mlwright.services.http import JsonServer

    fhir_server = JsonServer(slow_fhir).start()
    inbox_server, inbox = alert_inbox.serve()
    inbox_server.start()
    routes = {"critical": [f"{inbox_server.url}/alerts"], "warning": [f"{inbox_server.url}/alerts"], "info": []}
    settings = settings.model_copy(update={"pharmacy_url": pharmacy_server.url, "fhir_url": f"{fhir_server.url}/fhir",
                                           "alert_routes": routes})
    bootstrap.seed_sources(settings, PATIENTS, seed=11, run_date=RUN_DATE)
    return settings, inbox, [pharmacy_server, fhir_server, inbox_server]
