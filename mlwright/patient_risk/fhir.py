"""FHIR R4 RiskAssessment resources and transaction bundles, and the write checksum."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

OUTCOMES = {"readmission": "30-day readmission", "deterioration": "Clinical deterioration", "acuity": "High-acuity event"}


def resource_id(run_date: str, patient_id: str) -> str:
    """Deterministic id: the same patient and run date always PUT the same resource."""
    return f"risk-{run_date}-{patient_id}"


def risk_assessment(run_date: str, patient_id: str, row: Mapping, model_versions: dict[str, int]) -> dict:
    """``row`` holds the three outcome probabilities, ``tier`` and ``score`` (a Series or a dict)."""
    return {
        "resourceType": "RiskAssessment",
        "id": resource_id(run_date, patient_id),
        "status": "final",
        "subject": {"reference": f"Patient/{patient_id}"},
        "occurrenceDateTime": run_date,
        "method": {"text": "mlwright patient-risk models " +
                   ", ".join(f"{k} v{v}" for k, v in sorted(model_versions.items()))},
        "prediction": [{"outcome": {"text": text}, "probabilityDecimal": round(float(row[key]), 6)}
                       for key, text in OUTCOMES.items()],
        "extension": [{"url": "https://mlwright.dev/fhir/risk-tier", "valueCode": str(row["tier"])},
                      {"url": "https://mlwright.dev/fhir/risk-score", "valueDecimal": round(float(row["score"]), 6)}],
    }


def transaction(resources: Iterable[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"resource": r, "request": {"method": "PUT", "url": f"RiskAssessment/{r['id']}"}}
                      for r in resources]}


def checksum(rows: Iterable[tuple[str, str, float]]) -> str:
    """Order-independent digest of (patient_id, tier, score) as written to either system."""
    digest = hashlib.sha256()
    for pid, tier, score in sorted((p, t, round(float(s), 6)) for p, t, s in rows):
        digest.update(f"{pid}|{tier}|{score:.6f}\n".encode())
    return digest.hexdigest()
