"""Steps 18-20: upsert into the care-management database, PUT FHIR RiskAssessments, verify both."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pandas as pd
from temporalio import activity

from activities.patient_risk.bounded import run_bounded
from activities.patient_risk.deps import PatientRiskDeps
from activities.patient_risk.http_errors import translated
from mlwright.contracts import patient_risk as c
from mlwright.errors import InvalidInput, Transient
from mlwright.heartbeat import check_cancelled, phase
from mlwright.patient_risk import care, fhir
from mlwright.steps.patient_risk import BY_NAME

SEARCH_PAGE = 2_000
# How FHIR servers answer an operation they do not offer.
UNSUPPORTED = {400, 404, 405, 501}


def _progress(what: str) -> None:
    """Between chunks: stop if cancelled (each chunk is its own transaction), else report."""
    check_cancelled()
    phase(what)


def _bundles(inp: c.RiskInput, risk: pd.DataFrame, size: int) -> Iterator[tuple[int, bytes]]:
    """(resources, encoded transaction bundle), built one at a time as the sender asks: memory
    holds only the bundles in flight."""
    columns = ["tier", "score", *fhir.OUTCOMES]
    for start in range(0, len(risk), size):
        batch = risk.iloc[start:start + size]
        body = fhir.transaction_bytes(inp.run.run_date, batch.index.tolist(), {k: batch[k].tolist() for k in columns},
                                      inp.risk.model_versions)
        yield len(batch), body


def _checksum(risk: pd.DataFrame) -> str:
    # Lists first: iterating the Arrow-backed columns boxes each value slowly.
    return fhir.checksum(zip(risk.index.tolist(), risk["tier"].tolist(), risk["score"].tolist(), strict=True))


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
                             checksum=_checksum(risk))

    @BY_NAME["write_fhir"].defn
    def write_fhir(self, inp: c.RiskInput) -> c.WriteResult:
        """PUT one RiskAssessment per patient (id risk-<run_date>-<patient>) in transaction bundles,
        ``max_in_flight`` bundles at once. Idempotent: a repeated PUT replaces the same resource, so
        bundles may land in any order and a retry may resend any of them."""
        risk = self._risk(inp.risk)
        options = BY_NAME["write_fhir"].options_of(inp)
        written = 0

        def post(bundle: tuple[int, bytes]) -> int:
            size, body = bundle
            with translated("fhir_url"):
                self.deps.http.post(self.deps.settings.fhir_url, content=body,
                                    headers={"Content-Type": "application/fhir+json"}).raise_for_status()
            return size

        def done(size: int) -> None:
            nonlocal written
            written += size
            phase(f"{written}/{len(risk)} resources")

        run_bounded(post, _bundles(inp, risk, options.batch_size), options.max_in_flight, on_done=done)
        return c.WriteResult(target="fhir", rows=len(risk),
                             checksum=_checksum(risk))

    @BY_NAME["verify_writes"].defn
    def verify_writes(self, inp: c.VerifyInput) -> c.VerifyReport:
        """Both systems must hold as many rows as the run produced, with the same checksum. The FHIR
        server computes its own (count, checksum) where it offers the operation; else every
        resource is read back. A mismatch is retried (a replica may lag), then goes to the operator.

        The server's checksum is asked for first and computed there while this worker reads the
        care system and the run's table (at a million patients each side takes seconds)."""
        ask = ThreadPoolExecutor(1, thread_name_prefix="fhir-checksum")
        try:
            summary = ask.submit(self._fhir_summary, inp.run.run_date)
            risk = self._risk(inp.risk)
            expected = _checksum(risk)
            care_rows = care.rows_for(self.deps.care_engine, inp.run.run_date)
            counts = {"care_management": len(care_rows)}
            sums = {"care_management": fhir.checksum(care_rows)}
            del care_rows
            counts["fhir"], sums["fhir"] = summary.result() or self._fhir_read_back(inp.run.run_date)
        finally:
            # When the care side failed, the attempt's error goes back now rather than after the
            # FHIR server's answer (up to the read timeout); the request finishes on its own.
            ask.shutdown(wait=False, cancel_futures=True)
        wrong = {k: f"{counts[k]} rows, checksum {sums[k][:12]}" for k in counts
                 if counts[k] != len(risk) or sums[k] != expected}
        if wrong:
            raise Transient(f"writes disagree with the run ({len(risk)} rows, checksum {expected[:12]}): {wrong}")
        activity.logger.info("verified %s rows in both systems (checksum %s)", len(risk), expected[:12])
        return c.VerifyReport(expected_rows=len(risk), counts=counts, checksums=sums)

    def _fhir_summary(self, run_date: str) -> tuple[int, str] | None:
        """The server's (count, checksum) of the date's resources; None when it has no such operation."""
        base = self.deps.settings.fhir_url.rstrip("/")
        with translated("fhir_url"):
            response = self.deps.http.get(f"{base}/RiskAssessment/$checksum", params={"date": run_date})
            if response.status_code in UNSUPPORTED:
                return None
            response.raise_for_status()
        found = {p.get("name"): p for p in response.json().get("parameter", [])}
        try:
            return int(found["count"]["valueInteger"]), str(found["checksum"]["valueString"])
        except (KeyError, TypeError, ValueError):
            raise InvalidInput("fhir_url", "the $checksum operation answered without count and checksum") from None

    def _fhir_read_back(self, run_date: str) -> tuple[int, str]:
        rows = self._fhir_rows(run_date)
        return len(rows), fhir.checksum(rows)

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
