"""Steps 18-20: upsert into the care-management database, PUT FHIR RiskAssessments, verify both."""

from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd
from temporalio import activity

from activities.patient_risk.deps import PatientRiskDeps
from activities.patient_risk.http_errors import translated
from mlwright.contracts import patient_risk as c
from mlwright.errors import InvalidInput, Transient
from mlwright.heartbeat import check_cancelled, phase
from mlwright.patient_risk import care, fhir
from mlwright.steps.patient_risk import BY_NAME

SEARCH_PAGE = 2_000


def _progress(what: str) -> None:
    """Between chunks: stop if cancelled (each chunk is its own transaction), else report."""
    check_cancelled()
    phase(what)


def _versions(risk: c.RiskTable) -> str:
    return ", ".join(f"{k} v{v}" for k, v in sorted(risk.model_versions.items()))


class DeliveryActivities:
    def __init__(self, deps: PatientRiskDeps) -> None:
        self.deps = deps
        self.store = deps.base.artifacts

    def _risk(self, risk: c.RiskTable) -> pd.DataFrame:
        return self.store.get_frame(risk.data).set_index("patient_id")

    @BY_NAME["write_care_management"].defn
    def write_care_management(self, inp: c.RiskInput) -> c.WriteResult:
        """Upsert one row per patient for the run date. Idempotent: the key is (run_date, patient_id)."""
        risk = self._risk(inp.risk)
        rows = care.upsert(self.deps.care_engine, inp.run.run_date, risk, _versions(inp.risk), inp.run.workflow_id,
                           on_chunk=lambda done: _progress(f"{min(done, len(risk))}/{len(risk)} rows"))
        return c.WriteResult(target="care_management", rows=rows,
                             checksum=fhir.checksum(zip(risk.index, risk["tier"], risk["score"], strict=True)))

    @BY_NAME["write_fhir"].defn
    def write_fhir(self, inp: c.RiskInput) -> c.WriteResult:
        """PUT one RiskAssessment per patient (id risk-<run_date>-<patient>) in transaction bundles.
        Idempotent: a repeated PUT replaces the same resource."""
        risk = self._risk(inp.risk)
        size = BY_NAME["write_fhir"].options_of(inp).batch_size
        for start in range(0, len(risk), size):  # built a bundle at a time: memory stays flat
            check_cancelled()
            batch = risk.iloc[start:start + size]
            resources = [fhir.risk_assessment(inp.run.run_date, pid, row, inp.risk.model_versions)
                         for pid, row in zip(batch.index, batch.to_dict("records"), strict=True)]
            with translated("fhir_url"):
                self.deps.http.post(self.deps.settings.fhir_url, json=fhir.transaction(resources)).raise_for_status()
            phase(f"{min(start + size, len(risk))}/{len(risk)} resources")
        return c.WriteResult(target="fhir", rows=len(risk),
                             checksum=fhir.checksum(zip(risk.index, risk["tier"], risk["score"], strict=True)))

    @BY_NAME["verify_writes"].defn
    def verify_writes(self, inp: c.VerifyInput) -> c.VerifyReport:
        """Read back both systems: row counts and checksums must equal what the run produced.
        A mismatch is retried (a replica may lag), then goes to the operator."""
        risk = self._risk(inp.risk)
        expected = fhir.checksum(zip(risk.index, risk["tier"], risk["score"], strict=True))
        found = {"care_management": care.rows_for(self.deps.care_engine, inp.run.run_date),
                 "fhir": self._fhir_rows(inp.run.run_date)}
        counts = {k: len(v) for k, v in found.items()}
        sums = {k: fhir.checksum(v) for k, v in found.items()}
        wrong = {k: f"{counts[k]} rows, checksum {sums[k][:12]}" for k in found
                 if counts[k] != len(risk) or sums[k] != expected}
        if wrong:
            raise Transient(f"writes disagree with the run ({len(risk)} rows, checksum {expected[:12]}): {wrong}")
        activity.logger.info("verified %s rows in both systems (checksum %s)", len(risk), expected[:12])
        return c.VerifyReport(expected_rows=len(risk), counts=counts, checksums=sums)

    def _fhir_rows(self, run_date: str) -> list[tuple[str, str, float]]:
        """Page through the date's resources by following each searchset's `next` link."""
        base = self.deps.settings.fhir_url.rstrip("/")
        url: str | None = f"{base}/RiskAssessment?{urlencode({'date': run_date, '_count': SEARCH_PAGE})}"
        rows = []
        while url:
            check_cancelled()
            with translated("fhir_url"):
                response = self.deps.http.get(url)
                response.raise_for_status()
            bundle = response.json()
            for entry in bundle.get("entry", []):
                r = entry["resource"]
                ext = {e["url"].rsplit("/", 1)[-1]: e for e in r["extension"]}
                rows.append((r["subject"]["reference"].removeprefix("Patient/"), ext["risk-tier"]["valueCode"],
                             ext["risk-score"]["valueDecimal"]))
            following = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
            if following and not bundle.get("entry"):
                raise InvalidInput("fhir_url", "paging makes no progress: an empty searchset page with a next link")
            url = f"{base}/{following}" if following else None
            phase(f"read back {len(rows)} resources")
        return rows
