"""A minimal FHIR R4 endpoint standing in for the downstream clinical system.

`POST {base}` with a transaction Bundle whose entries are `PUT RiskAssessment/{id}` upserts each
resource (so a repeated write replaces, never duplicates); `GET {base}/RiskAssessment?date=D&_count=N`
returns a searchset Bundle whose `link` with relation `next` fetches the following page (a keyset
cursor, so paging a million resources stays linear); `GET {base}/RiskAssessment/{id}` reads one.
Resources persist in a SQLite file, so they survive a restart of the dev stack.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from urllib.parse import urlencode

from mlwright.services.http import JsonServer


class FhirStore:
    def __init__(self, path: Path | str = ":memory:") -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("create table if not exists resource (id text primary key, date text, body text)")
            self._db.execute("create index if not exists resource_by_date on resource (date, id)")
            self._db.commit()

    def handle(self, method: str, path: str, query: dict[str, str], body) -> tuple[int, object]:
        parts = [p for p in path.split("/") if p]
        if method == "POST" and parts == ["fhir"]:
            return self._transaction(body)
        if method == "GET" and parts == ["fhir", "RiskAssessment"]:
            return self._search(query)
        if method == "GET" and len(parts) == 3 and parts[:2] == ["fhir", "RiskAssessment"]:
            with self._lock:
                row = self._db.execute("select body from resource where id = ?", (parts[2],)).fetchone()
            return (200, json.loads(row[0])) if row else (404, _outcome("not-found", f"RiskAssessment/{parts[2]}"))
        return 404, _outcome("not-supported", f"{method} {path}")

    def _transaction(self, bundle) -> tuple[int, object]:
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
            return 400, _outcome("invalid", "expected a transaction Bundle")
        rows = []
        for entry in bundle.get("entry", []):
            resource, request = entry.get("resource", {}), entry.get("request", {})
            kind, _, rid = request.get("url", "").partition("/")
            if request.get("method") != "PUT" or kind != "RiskAssessment" or rid != resource.get("id"):
                return 400, _outcome("invalid", f"entry must be PUT RiskAssessment/<id>: {request}")
            rows.append((rid, resource.get("occurrenceDateTime", ""), json.dumps(resource, sort_keys=True)))
        with self._lock:
            self._db.executemany("insert into resource values (?, ?, ?) on conflict(id) do update set "
                                 "date = excluded.date, body = excluded.body", rows)
            self._db.commit()
        return 200, {"resourceType": "Bundle", "type": "transaction-response",
                     "entry": [{"response": {"status": "200 OK"}} for _ in rows]}

    def _search(self, query: dict[str, str]) -> tuple[int, object]:
        day, after = query.get("date", ""), query.get("_after", "")
        count = int(query.get("_count", "1000"))
        with self._lock:
            # Like most FHIR servers, the total comes with the first page only.
            total = None if after else self._db.execute("select count(*) from resource where date = ?",
                                                        (day,)).fetchone()[0]
            rows = self._db.execute("select id, body from resource where date = ? and id > ? order by id limit ?",
                                    (day, after, count)).fetchall()
        bundle = {"resourceType": "Bundle", "type": "searchset", **({"total": total} if total is not None else {}),
                  "entry": [{"resource": json.loads(body)} for _, body in rows], "link": []}
        if len(rows) == count:
            cursor = urlencode({"date": day, "_count": count, "_after": rows[-1][0]})
            bundle["link"].append({"relation": "next", "url": f"RiskAssessment?{cursor}"})
        return 200, bundle


def _outcome(code: str, text: str) -> dict:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


def serve(path: Path | str = ":memory:", port: int = 0) -> JsonServer:
    return JsonServer(FhirStore(path).handle, port=port)
