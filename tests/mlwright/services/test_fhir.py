"""The dev FHIR endpoint over real HTTP: strict search parameters and transaction bundles, refusals
as OperationOutcomes naming the parameter or entry, and nothing half-written."""

from __future__ import annotations

import httpx
import pytest

from mlwright.patient_risk import fhir as resources
from mlwright.services import fhir

DAY = "2026-11-27"


def bundle(*entries) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def entry(n: int) -> dict:
    rid = resources.resource_id(DAY, f"P{n:07d}")
    return {"resource": {"resourceType": "RiskAssessment", "id": rid, "occurrenceDateTime": DAY},
            "request": {"method": "PUT", "url": f"RiskAssessment/{rid}"}}


@pytest.fixture
def base():
    with fhir.serve() as server:
        url = f"{server.url}/fhir"
        assert httpx.post(url, json=bundle(*(entry(n) for n in range(7)))).status_code == 200
        yield url


def search(base: str, **params) -> httpx.Response:
    return httpx.get(f"{base}/RiskAssessment", params=params)


def refusal(reply: httpx.Response) -> tuple[int, str, list[str]]:
    issue = reply.json()["issue"][0]
    assert reply.json()["resourceType"] == "OperationOutcome"
    return reply.status_code, issue["diagnostics"], issue.get("expression", [])


@pytest.mark.parametrize(("params", "named"), [
    ({"date": DAY, "_count": "abc"}, "_count"),
    ({"date": DAY, "_count": "-1"}, "_count"),
    ({"date": DAY, "_count": ""}, "_count"),
    ({"date": DAY, "_count": "1e3"}, "_count"),
    ({"_count": "5"}, "date"),
    ({"date": "zzzz"}, "date"),
    ({"date": "2026-02-30"}, "date"),
    ({"date": "ge2026-11-01"}, "date"),
    ({"date": DAY, "_after": "../x"}, "_after"),
    ({"date": DAY, "_sort": "id"}, "_sort"),
])
def test_bad_search_parameters_are_refused_naming_the_parameter(base, params, named):
    status, text, expression = refusal(search(base, **params))
    assert status == 400 and named in text and expression == [named]


def test_paging_is_bounded_and_count_zero_returns_only_the_total(base, monkeypatch):
    only_total = search(base, date=DAY, _count=0).json()
    assert only_total["total"] == 7 and only_total["entry"] == [] and only_total["link"] == []

    monkeypatch.setattr(fhir, "MAX_PAGE", 3)  # as a server may: a larger _count gets MAX_PAGE a page
    seen, page = [], search(base, date=DAY, _count=1000).json()
    while True:
        assert len(page["entry"]) <= 3
        seen += [e["resource"]["id"] for e in page["entry"]]
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not following:
            break
        page = httpx.get(f"{base}/{following[0]}").json()
    assert len(seen) == len(set(seen)) == 7


@pytest.mark.parametrize(("body", "named"), [
    ({"resourceType": "Bundle", "type": "batch", "entry": []}, "Bundle.type"),
    ([entry(1)], "Bundle.type"),
    ({**bundle(), "entry": {"not": "a list"}}, "Bundle.entry"),
    (bundle(entry(50), "not an object"), "Bundle.entry[1]"),
    (bundle(entry(50), {"resource": [], "request": {}}), "Bundle.entry[1]"),
    (bundle(entry(50), {**entry(51), "request": {"method": "DELETE", "url": entry(51)["request"]["url"]}}),
     "Bundle.entry[1].request"),
    (bundle(entry(50), {**entry(51), "request": {"method": "PUT", "url": 5}}), "Bundle.entry[1].request"),
    (bundle(entry(50), {**entry(51), "request": entry(52)["request"]}), "Bundle.entry[1].resource"),
    (bundle(entry(50), {**entry(51), "resource": {**entry(51)["resource"], "occurrenceDateTime": "27/11"}}),
     "Bundle.entry[1].resource.occurrenceDateTime"),
])
def test_malformed_bundles_are_refused_whole_naming_the_entry(base, body, named):
    status, text, expression = refusal(httpx.post(base, json=body))
    assert status == 400 and expression == [named]
    assert "P00000" not in text  # entries are named by position: ids carry patient identifiers
    assert search(base, date=DAY, _count=0).json()["total"] == 7  # entry 0 was valid, and not written


def test_a_body_over_the_limit_is_refused_as_an_outcome(base, monkeypatch):
    monkeypatch.setattr(fhir, "MAX_BODY", 10)
    with fhir.serve() as small:
        status, text, expression = refusal(httpx.post(f"{small.url}/fhir", json=bundle(entry(1))))
    assert status == 413 and expression == ["Content-Length"]


def risk_bundle(day: str, rows: list[tuple[str, str, float]]) -> dict:
    made = [resources.risk_assessment(day, pid, {"tier": tier, "score": score, "readmission": 0.1,
                                                  "deterioration": 0.2, "acuity": 0.3}, {"readmission-risk": 1})
            for pid, tier, score in rows]
    return resources.transaction(made)


def server_checksum(base: str, day: str) -> tuple[int, str]:
    reply = httpx.get(f"{base}/RiskAssessment/$checksum", params={"date": day})
    assert reply.status_code == 200 and reply.json()["resourceType"] == "Parameters"
    found = {p["name"]: p for p in reply.json()["parameter"]}
    return found["count"]["valueInteger"], found["checksum"]["valueString"]


def test_the_checksum_operation_matches_the_writers_checksum_and_sees_a_changed_resource(base):
    day = "2026-11-20"
    rows = [(f"P{n:07d}", "high" if n % 3 else "low", n / 7) for n in range(40)]
    assert httpx.post(base, json=risk_bundle(day, rows)).status_code == 200
    assert server_checksum(base, day) == (40, resources.checksum(rows))
    assert server_checksum(base, DAY)[0] == 7  # another date is not counted

    changed = [*rows[:-1], (rows[-1][0], "medium", rows[-1][2])]
    assert httpx.post(base, json=risk_bundle(day, changed[-1:])).status_code == 200
    assert server_checksum(base, day) == (40, resources.checksum(changed)) != (40, resources.checksum(rows))


def test_the_checksum_operation_refuses_bad_parameters_naming_them(base):
    for params, named in (({}, "date"), ({"date": "27/11"}, "date"), ({"date": DAY, "_count": "1"}, "_count")):
        status, _, expression = refusal(httpx.get(f"{base}/RiskAssessment/$checksum", params=params))
        assert status == 400 and expression == [named]


def test_a_database_from_before_the_checksum_columns_is_verified_from_its_bodies(tmp_path):
    import json
    import sqlite3

    day, rows = "2026-11-21", [("P0000001", "high", 0.5), ("P0000002", "low", 0.125)]
    old = sqlite3.connect(tmp_path / "fhir.db")
    old.execute("create table resource (id text primary key, date text, body text)")
    for entry_ in risk_bundle(day, rows)["entry"]:
        old.execute("insert into resource values (?, ?, ?)", (entry_["resource"]["id"], day,
                                                               json.dumps(entry_["resource"], sort_keys=True)))
    old.commit()
    old.close()
    with fhir.serve(tmp_path / "fhir.db") as server:
        assert server_checksum(f"{server.url}/fhir", day) == (2, resources.checksum(rows))
