"""Steps 1-8: extract the four sources as of the run date, then validate each."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pandas as pd
from temporalio import activity

from activities.patient_risk.deps import PatientRiskDeps
from activities.patient_risk.http_errors import translated
from mlwright.contracts import patient_risk as c
from mlwright.errors import InvalidInput
from mlwright.heartbeat import check_cancelled, phase
from mlwright.patient_risk import sources, validation
from mlwright.steps.patient_risk import BY_NAME


def _frame(records: object, page: int) -> pd.DataFrame:
    """``pd.DataFrame(records)``, built a column at a time where every record has the first one's fields
    (as the API sends them): pandas' record-by-record path took ~20% longer (4.35 against 3.66 ms per
    5,000 fills), on the io worker's lock shared with three other extracts. Records that differ (a
    field missing or added) take pandas' own path."""
    if not isinstance(records, list):
        raise InvalidInput("sources.pharmacy", f"page {page}: fills is not a list")
    odd = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if odd is not None:
        raise InvalidInput("sources.pharmacy", f"page {page}: fills[{odd}] is not an object")
    if not records or not all(r.keys() == records[0].keys() for r in records):
        return pd.DataFrame(records)
    return pd.DataFrame({k: [r[k] for r in records] for k in records[0]})


def _day(run: c.RunRef) -> date:
    return date.fromisoformat(run.run_date)


class SourceActivities:
    def __init__(self, deps: PatientRiskDeps) -> None:
        self.deps = deps
        self.store = deps.base.artifacts

    def _snapshot(self, source: str, tables: dict[str, pd.DataFrame]) -> c.SourceSnapshot:
        refs = {name: self.store.put_frame(frame) for name, frame in tables.items()}
        activity.logger.info("%s: %s", source, {k: v.rows for k, v in refs.items()})
        return c.SourceSnapshot(source=source, tables=refs)

    @BY_NAME["extract_ehr"].defn
    def extract_ehr(self, inp: c.StepInput) -> c.SourceSnapshot:
        """Patients, encounters (365 days) and diagnoses from the EHR database. Read-only; snapshots are
        content-addressed, so a retry writes nothing new."""
        return self._snapshot("ehr", sources.read_ehr(self.deps.sources.ehr_url, _day(inp.run)))

    @BY_NAME["extract_labs"].defn
    def extract_labs(self, inp: c.StepInput) -> c.SourceSnapshot:
        """The last 30 daily lab files (late rows included: they sit in the next day's file)."""
        return self._snapshot("labs", {"labs": sources.read_labs(self.deps.sources.labs_dir, _day(inp.run))})

    @BY_NAME["extract_claims"].defn
    def extract_claims(self, inp: c.StepInput) -> c.SourceSnapshot:
        """The monthly claim files covering the last 365 days."""
        return self._snapshot("claims", {"claims": sources.read_claims(self.deps.sources.claims_dir, _day(inp.run))})

    @BY_NAME["extract_pharmacy"].defn
    def extract_pharmacy(self, inp: c.StepInput) -> c.SourceSnapshot:
        """Fills recorded by the run date (180 days), page by page from the pharmacy API. Stops between
        pages when cancelled, and refuses a page that makes no progress rather than loop on it.

        The next page is asked for as soon as its token is known, before this page becomes a frame:
        the API builds one page while this worker converts the last (at a million patients each
        side is several seconds of CPU, in two processes), one request in flight at a time.
        """
        page_size = BY_NAME["extract_pharmacy"].options_of(inp).page_size
        since = _day(inp.run) - timedelta(days=sources.FILL_WINDOW_DAYS)

        def fetch(token: str) -> dict:
            with translated("sources.pharmacy"):
                response = self.deps.http.get(f"{self.deps.settings.pharmacy_url}/fills", params={
                    "as_of": inp.run.run_date, "since": since.isoformat(), "page_token": token,
                    "page_size": page_size})
                response.raise_for_status()
            return response.json()

        pages, seen, rows = [], {"0"}, 0
        with ThreadPoolExecutor(1, thread_name_prefix="pharmacy-page") as prefetch:
            body = fetch("0")
            while True:
                token = body["next_page_token"]
                _require_progress(token, seen, len(body["fills"]), page=len(pages) + 1)
                following = None
                if token is not None:
                    check_cancelled()
                    seen.add(token)
                    following = prefetch.submit(fetch, token)
                pages.append(_frame(body["fills"], page=len(pages) + 1))
                rows += len(pages[-1])
                phase(f"page {len(pages)} ({rows} of {body['total']} fills)")
                if following is None:
                    break
                body = following.result()
        return self._snapshot("pharmacy", {"fills": pd.concat(pages, ignore_index=True)})

    def _validate(self, inp: c.ValidateSourceInput, expected: str, check) -> c.ValidatedSource:
        if inp.snapshot.source != expected:
            raise InvalidInput("snapshot.source", f"expected {expected}, got {inp.snapshot.source}")
        frames = {name: self.store.get_frame(ref, categorical=validation.CATEGORICAL.get(name, ()))
                  for name, ref in inp.snapshot.tables.items()}
        options = BY_NAME[f"validate_{expected}"].options_of(inp).model_dump()
        clean, report = check(frames, _day(inp.run), options)
        tables = {name: self.store.put_frame(frame) for name, frame in clean.items()}
        activity.logger.info("%s: %s rows in, %s out; %s", report.source, report.rows_in, report.rows_out,
                             report.issues or "no issues")
        return c.ValidatedSource(source=expected, tables=tables, report=c.SourceReport(
            source=report.source, rows_in=report.rows_in, rows_out=report.rows_out, issues=report.issues,
            checks=report.checks))

    @BY_NAME["validate_ehr"].defn
    def validate_ehr(self, inp: c.ValidateSourceInput) -> c.ValidatedSource:
        """Schema, ranges, freshness and duplicates of the EHR tables."""
        return self._validate(inp, "ehr", validation.validate_ehr)

    @BY_NAME["validate_labs"].defn
    def validate_labs(self, inp: c.ValidateSourceInput) -> c.ValidatedSource:
        """Also normalises units (creatinine µmol/L, glucose mmol/L) to mg/dL."""
        return self._validate(inp, "labs", lambda f, d, o: _single("labs", validation.validate_labs, f, d, o))

    @BY_NAME["validate_claims"].defn
    def validate_claims(self, inp: c.ValidateSourceInput) -> c.ValidatedSource:
        return self._validate(inp, "claims", lambda f, d, o: _single("claims", validation.validate_claims, f, d, o))

    @BY_NAME["validate_pharmacy"].defn
    def validate_pharmacy(self, inp: c.ValidateSourceInput) -> c.ValidatedSource:
        return self._validate(inp, "pharmacy",
                              lambda f, d, o: _single("fills", validation.validate_pharmacy, f, d, o))


def _require_progress(token: str | None, seen: set[str], page_rows: int, page: int) -> None:
    """A pager that returns an empty page with a next token, or a token already followed, would be
    followed forever: that is the source's bug, reported rather than looped on."""
    if token is None:
        return
    problem = ("an empty page with a next page token" if page_rows == 0 else
               "a next page token it already returned" if token in seen else None)
    if problem:
        raise InvalidInput("sources.pharmacy", f"paging makes no progress: page {page} brought {problem}")


def _single(table: str, check, frames: dict[str, pd.DataFrame], run_date: date, options: dict):
    clean, report = check(frames[table], run_date, options)
    return {table: clean}, report
