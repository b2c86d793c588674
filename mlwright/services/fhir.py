"""A minimal FHIR R4 endpoint standing in for the downstream clinical system.

`POST {base}` with a transaction Bundle whose entries are `PUT RiskAssessment/{id}` upserts each
resource (so a repeated write replaces, never duplicates); `GET {base}/RiskAssessment?date=D&_count=N`
returns a searchset Bundle whose `link` with relation `next` fetches the following page (a keyset
cursor, so paging a million resources stays linear); `GET {base}/RiskAssessment/{id}` reads one.
Resources persist in a SQLite file, so they survive a restart of the dev stack.

Input is checked as a strict FHIR server would: unknown or malformed search parameters, bundles that
are not transactions of `PUT RiskAssessment/<id>` entries, and bodies over ``MAX_BODY`` are refused
with an OperationOutcome naming the parameter or entry. As FHIR allows, ``_count`` above ``MAX_PAGE``
returns ``MAX_PAGE`` entries (the `next` link carries on) and ``_count=0`` returns only the total.
Refusals name the entry by position, never by id: ids carry patient identifiers.

Verification without reading everything back: ``GET {base}/RiskAssessment/$checksum?date=D`` is a
custom operation (FHIR allows them; a server without it answers 404 and the caller reads back
instead) returning a ``Parameters`` resource with the date's ``count`` and the ``checksum`` of what
is stored, computed as ``mlwright.patient_risk.fhir.checksum`` over (subject, risk tier, risk
score). Those three are kept in columns at write time, so the operation reads no resource bodies.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import re
import select
import sqlite3
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from urllib.parse import urlencode

from mlwright.patient_risk.fhir import checksum
from mlwright.services.http import HttpError, JsonServer, day_param, int_param, only, parse_json

MAX_PAGE = 5_000
MAX_ENTRIES = 10_000
MAX_BODY = 16 << 20  # 5,000 RiskAssessments (the largest bundle the pipeline sends) are ~4 MB
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # FHIR R4 id datatype
_DATE_TIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(T[0-9:.+\-Z]{1,30})?")
_SEARCH_PARAMS = {"date", "_count", "_after"}
CHECKSUM_OPERATION = "$checksum"
# Verification columns; a database written before they existed gets them added, empty, and the
# checksum operation reads such rows' bodies instead.
_VERIFIED = {"subject": "text", "tier": "text", "score": "real"}
# Bundles smaller than this are parsed in the request's thread: the hand-off to a parser process
# (~1 ms) would cost more than it saves.
PARSE_APART_BYTES = 64 << 10
Row = tuple[str, str, str, str | None, str | None, float | None]


class FhirStore:
    """``parse_processes``: how many processes parse and check transaction bundles (a body's JSON, each
    entry, its stored form: ~90% of a write's CPU here). One process cannot: its threads share one
    interpreter lock, and this endpoint's CPU was most of the FHIR write's time. 0: in the request's
    thread. Writes stay in this process, one transaction per bundle."""

    def __init__(self, path: Path | str = ":memory:", parse_processes: int = 0) -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._lock = threading.Lock()
        self._parse_processes = parse_processes
        self._parsers: ProcessPoolExecutor | None = None
        self._parsers_lock = threading.Lock()
        with self._lock:
            # WAL without an fsync per commit: a transaction bundle's commit survives this process
            # crashing (not the machine losing power), at ~0.1 ms instead of a journal fsync each.
            if str(path) != ":memory:":
                self._db.execute("pragma journal_mode=WAL")
                self._db.execute("pragma synchronous=NORMAL")
            self._db.execute("create table if not exists resource "
                             "(id text primary key, date text, body text)")
            self._db.execute("create index if not exists resource_by_date on resource (date, id)")
            present = {row[1] for row in self._db.execute("pragma table_info(resource)")}
            for column, kind in _VERIFIED.items():
                if column not in present:
                    self._db.execute(f"alter table resource add column {column} {kind}")
            self._db.commit()

    def close(self) -> None:
        with self._parsers_lock:
            parsers, self._parsers = self._parsers, None
        if parsers is not None:
            parsers.shutdown(wait=True, cancel_futures=True)

    def _rows(self, body) -> list[Row]:
        if not isinstance(body, bytes) or not self._parse_processes or len(body) < PARSE_APART_BYTES:
            return bundle_rows(body)
        with self._parsers_lock:
            if self._parsers is None:
                # spawn, not fork: this process runs threads (the server's, SQLite's callers).
                self._parsers = ProcessPoolExecutor(self._parse_processes,
                                                    mp_context=multiprocessing.get_context("spawn"),
                                                    initializer=_end_with, initargs=(os.getpid(),))
            parsers = self._parsers
        try:
            return parsers.submit(bundle_rows, body).result()
        except BrokenProcessPool:  # a parser died (killed, out of memory): the next bundle gets new ones
            with self._parsers_lock:
                if self._parsers is parsers:
                    self._parsers = None
            parsers.shutdown(wait=False, cancel_futures=True)
            return bundle_rows(body)

    def handle(self, method: str, path: str, query: dict[str, str], body) -> tuple[int, object]:
        """``body``: parsed JSON, or the bytes of it (``serve`` passes bytes, parsed in ``_rows``)."""
        parts = [p for p in path.split("/") if p]
        if method == "POST" and parts == ["fhir"]:
            only(query, set())
            return self._transaction(body)
        if method == "GET" and parts == ["fhir", "RiskAssessment"]:
            return self._search(query)
        if method == "GET" and parts == ["fhir", "RiskAssessment", CHECKSUM_OPERATION]:
            return self._checksum(query)
        if method == "GET" and len(parts) == 3 and parts[:2] == ["fhir", "RiskAssessment"]:
            only(query, set())
            if not _ID.fullmatch(parts[2]):
                raise HttpError(400, "the id must be 1-64 of A-Z a-z 0-9 - .", "id")
            with self._lock:
                row = self._db.execute("select body from resource where id = ?", (parts[2],)).fetchone()
            if row is None:
                return 404, _outcome("not-found", "no such RiskAssessment")
            return 200, json.loads(row[0])
        return 404, _outcome("not-supported", f"{method} {path[:100]} is not supported")

    def _transaction(self, body) -> tuple[int, object]:
        rows = self._rows(body)
        with self._lock:
            self._db.executemany("insert into resource (id, date, body, subject, tier, score) "
                                 "values (?, ?, ?, ?, ?, ?) on conflict(id) do update set "
                                 "date = excluded.date, body = excluded.body, subject = excluded.subject, "
                                 "tier = excluded.tier, score = excluded.score", rows)
            self._db.commit()
        return 200, {"resourceType": "Bundle", "type": "transaction-response",
                     "entry": [{"response": {"status": "200 OK"}} for _ in rows]}

    def _checksum(self, query: dict[str, str]) -> tuple[int, object]:
        only(query, {"date"})
        day = day_param(query, "date")
        with self._lock:
            rows = self._db.execute("select subject, tier, score, body from resource where date = ?",
                                    (day,)).fetchall()
        verified = [(s, t, v) if s is not None else _verified(json.loads(body)) for s, t, v, body in rows]
        # A resource without a subject, tier or score cannot match the caller's checksum: it counts
        # as an empty line, so the mismatch shows instead of the resource being skipped.
        digest = checksum((s or "", t or "", v or 0.0) for s, t, v in verified)
        return 200, {"resourceType": "Parameters", "parameter": [
            {"name": "count", "valueInteger": len(rows)}, {"name": "checksum", "valueString": digest}]}

    def _search(self, query: dict[str, str]) -> tuple[int, object]:
        only(query, _SEARCH_PARAMS)
        day = day_param(query, "date")
        count = min(int_param(query, "_count", 1000, low=0), MAX_PAGE)
        after = query.get("_after", "")
        if after and not _ID.fullmatch(after):
            raise HttpError(400, "_after must be a resource id (1-64 of A-Z a-z 0-9 - .)", "_after")
        with self._lock:
            # Like most FHIR servers, the total comes with the first page only.
            total = None if after else self._db.execute("select count(*) from resource where date = ?",
                                                        (day,)).fetchone()[0]
            rows = self._db.execute("select id, body from resource where date = ? and id > ? "
                                    "order by id limit ?", (day, after, count)).fetchall()
        bundle = {"resourceType": "Bundle", "type": "searchset",
                  **({"total": total} if total is not None else {}),
                  "entry": [{"resource": json.loads(body)} for _, body in rows], "link": []}
        if rows and len(rows) == count:
            cursor = urlencode({"date": day, "_count": count, "_after": rows[-1][0]})
            bundle["link"].append({"relation": "next", "url": f"RiskAssessment?{cursor}"})
        return 200, bundle


def _end_with(server: int) -> None:
    """A parser process exits once its server has, even one killed outright: nothing else would end
    it (a death signal is tied to the thread that started it, here a request's)."""

    def watch() -> None:
        if hasattr(os, "pidfd_open"):
            with contextlib.suppress(OSError):  # the server is already gone
                select.select([os.pidfd_open(server)], [], [])
        while os.getppid() == server:  # no pidfd here: look twice a second
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="end-with-server", daemon=True).start()


def bundle_rows(bundle) -> list[Row]:
    """The rows a transaction bundle (JSON or its bytes) writes, or the HttpError naming what is wrong
    with it. A pure function of the body: it runs in a parser process as well as in this one."""
    if isinstance(bundle, bytes):
        bundle = parse_json(bundle)
    kind = (bundle.get("resourceType"), bundle.get("type")) if isinstance(bundle, dict) else None
    if kind != ("Bundle", "transaction"):
        raise HttpError(400, "expected a transaction Bundle", "Bundle.type")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise HttpError(400, f"Bundle.entry must be a list of at most {MAX_ENTRIES} entries", "Bundle.entry")
    return [_row(i, entry) for i, entry in enumerate(entries)]


def _row(index: int, entry) -> Row:
    where = f"Bundle.entry[{index}]"
    if not isinstance(entry, dict):
        raise HttpError(400, f"{where} must be an object", where)
    resource, request = entry.get("resource"), entry.get("request")
    if not isinstance(resource, dict) or not isinstance(request, dict):
        raise HttpError(400, f"{where} needs a resource and a request object", where)
    url = request.get("url")
    kind, _, rid = url.partition("/") if isinstance(url, str) else ("", "", "")
    if request.get("method") != "PUT" or kind != "RiskAssessment" or not _ID.fullmatch(rid):
        raise HttpError(400, f"{where}.request must be PUT RiskAssessment/<id>", f"{where}.request")
    if resource.get("resourceType") != "RiskAssessment" or resource.get("id") != rid:
        raise HttpError(400, f"{where}.resource must be the RiskAssessment its request.url names",
                        f"{where}.resource")
    when = resource.get("occurrenceDateTime")
    matched = _DATE_TIME.fullmatch(when) if isinstance(when, str) else None
    if not matched:
        raise HttpError(400, f"{where}.resource.occurrenceDateTime must be a FHIR dateTime",
                        f"{where}.resource.occurrenceDateTime")
    return rid, matched.group(1), _STORED.encode(resource), *_verified(resource)


def _verified(resource: dict) -> tuple[str | None, str | None, float | None]:
    """(patient id, risk tier, risk score) as the resource states them; None where it does not."""
    reference = (resource.get("subject") or {}).get("reference")
    subject = reference.removeprefix("Patient/") if isinstance(reference, str) else None
    found = {e.get("url", "").rsplit("/", 1)[-1]: e for e in resource.get("extension") or [] if isinstance(e, dict)}
    tier = found.get("risk-tier", {}).get("valueCode")
    score = found.get("risk-score", {}).get("valueDecimal")
    return (subject, tier if isinstance(tier, str) else None,
            float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None)


def _outcome(code: str, text: str, expression: str | None = None) -> dict:
    issue = {"severity": "error", "code": code, "diagnostics": text,
             **({"expression": [expression]} if expression else {})}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


_STORED = json.JSONEncoder(sort_keys=True)  # json.dumps(..., sort_keys=True) builds one per call
_CODES = {400: "invalid", 404: "not-found", 411: "required", 413: "too-long"}


def _error(status: int, reason: str, parameter: str | None) -> dict:
    return _outcome(_CODES.get(status, "exception"), reason, parameter)


def serve(path: Path | str = ":memory:", port: int = 0, parse_processes: int = 0) -> JsonServer:
    store = FhirStore(path, parse_processes)
    return JsonServer(store.handle, port=port, max_body=MAX_BODY, error_body=_error, raw_body=True,
                      on_stop=store.close)
