"""FHIR R4 RiskAssessment resources and transaction bundles, and the write checksum."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence

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
    # One update over the joined lines (the same digest as one per line): per-line updates cost
    # as much as the sort, at every one of the four places a million rows are summed.
    lines = "".join(f"{pid}|{tier}|{score:.6f}\n" for pid, tier, score in sorted((p, t, round(float(s), 6))
                                                                               for p, t, s in rows))
    return hashlib.sha256(lines.encode()).hexdigest()


def _text(value: str) -> str:
    """``value`` as the inside of a JSON string, escaped exactly as ``json.dumps`` escapes it.
    Escaping is per character, so escaped pieces concatenate into the escaped whole."""
    return json.dumps(value)[1:-1]


def _number(value: float) -> str:
    """A score as ``json.dumps`` writes ``round(float(value), 6)`` (NaN and infinities included)."""
    rounded = round(float(value), 6)
    return repr(rounded) if math.isfinite(rounded) else json.dumps(rounded)


def transaction_bytes(run_date: str, patient_ids: Sequence[str], columns: Mapping[str, Sequence],
                      model_versions: dict[str, int]) -> bytes:
    """Exactly ``json.dumps(transaction([risk_assessment(...) for each patient]), separators=(",", ":"))``,
    written as text from a template: building a dict per resource and encoding it cost ~5x more
    (a third of the FHIR write's time at a million patients). ``columns`` holds ``tier``, ``score``
    and the three outcomes, each aligned with ``patient_ids``; a test pins the equality."""
    day = _text(run_date)
    method = _text("mlwright patient-risk models " + ", ".join(f"{k} v{v}" for k, v in sorted(model_versions.items())))
    head = (f'{{"resource":{{"resourceType":"RiskAssessment","id":"risk-{day}-')
    ext = "https://mlwright.dev/fhir/risk-"
    outcomes = [_text(text) for text in OUTCOMES.values()]
    numbers = [[_number(v) for v in columns[key]] for key in OUTCOMES]
    tiers = [_text(str(t)) for t in columns["tier"]]
    scores = [_number(v) for v in columns["score"]]
    entries = [
        f'{head}{pid}","status":"final","subject":{{"reference":"Patient/{pid}"}},"occurrenceDateTime":"{day}",'
        f'"method":{{"text":"{method}"}},"prediction":[{{"outcome":{{"text":"{outcomes[0]}"}},"probabilityDecimal":{a}}},'
        f'{{"outcome":{{"text":"{outcomes[1]}"}},"probabilityDecimal":{b}}},'
        f'{{"outcome":{{"text":"{outcomes[2]}"}},"probabilityDecimal":{c}}}],'
        f'"extension":[{{"url":"{ext}tier","valueCode":"{tier}"}},{{"url":"{ext}score","valueDecimal":{score}}}]}},'
        f'"request":{{"method":"PUT","url":"RiskAssessment/risk-{day}-{pid}"}}}}'
        for pid, a, b, c, tier, score in zip([_text(str(p)) for p in patient_ids], *numbers, tiers, scores,
                                             strict=True)]
    return ('{"resourceType":"Bundle","type":"transaction","entry":[' + ",".join(entries) + "]}").encode()
