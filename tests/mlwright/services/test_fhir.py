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


def stored(path) -> list[tuple]:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        return db.execute("select id, date, body, subject, tier, score from resource order by id").fetchall()
    finally:
        db.close()


def test_a_parser_process_stores_what_the_request_thread_stores_and_ends_with_the_server(tmp_path):
    import multiprocessing

    rows = [(f"P{n:07d}", ("low", "medium", "high")[n % 3], n / 301) for n in range(300)]
    body = risk_bundle(DAY, rows)
    assert len(httpx.Request("POST", "http://x", json=body).content) > fhir.PARSE_APART_BYTES
    for parsers, name in ((0, "inline.db"), (1, "apart.db")):
        with fhir.serve(tmp_path / name, parse_processes=parsers) as server:
            assert httpx.post(f"{server.url}/fhir", json=body).status_code == 200
            assert bool(multiprocessing.active_children()) == bool(parsers)
            assert server_checksum(f"{server.url}/fhir", DAY) == (300, resources.checksum(rows))
        assert not multiprocessing.active_children()  # stopping the server stopped its parsers
    assert stored(tmp_path / "apart.db") == stored(tmp_path / "inline.db")


def test_a_parser_process_refuses_a_bundle_naming_the_entry_as_the_request_thread_does(tmp_path, monkeypatch):
    monkeypatch.setattr(fhir, "PARSE_APART_BYTES", 0)  # checked here, in the server: every bundle goes apart
    with fhir.serve(tmp_path / "fhir.db", parse_processes=1) as server:
        url = f"{server.url}/fhir"
        assert httpx.post(url, json=bundle(entry(1))).status_code == 200
        bad = bundle(entry(50), {**entry(51), "request": {"method": "DELETE", "url": entry(51)["request"]["url"]}})
        status, text, expression = refusal(httpx.post(url, json=bad))
        assert (status, expression) == (400, ["Bundle.entry[1].request"]) and "P00000" not in text
        status, text, _ = refusal(httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"}))
        assert status == 400 and text.startswith("body is not JSON")
        assert search(url, date=DAY, _count=0).json()["total"] == 1  # nothing of either was written


SERVER = """
import sys
from mlwright.services import fhir
server = fhir.serve(sys.argv[1], parse_processes=1).start()
print(server.url, flush=True)
sys.stdin.read()
"""


def test_parser_processes_end_when_their_server_is_killed_outright(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    server = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp_path / "fhir.db")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        rows = [(f"P{n:07d}", "low", n / 301) for n in range(300)]
        assert httpx.post(f"{url}/fhir", json=risk_bundle(DAY, rows), timeout=30).status_code == 200
        children = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
        parsers = [pid for pid in children if "spawn_main" in open(f"/proc/{pid}/cmdline").read()]
        assert len(parsers) == 1
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
    deadline = time.monotonic() + 20
    while any(running(pid) for pid in parsers):
        assert time.monotonic() < deadline, "a parser process outlived its server"
        time.sleep(0.05)


def running(pid: str) -> bool:
    """Alive and not a zombie (ended, waiting for whoever adopted it to reap it)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in status)
    except FileNotFoundError:
        return False


def test_a_killed_parser_process_is_replaced_and_its_bundle_still_written(tmp_path):
    import multiprocessing
    import os
    import signal

    rows = [(f"P{n:07d}", "low", n / 301) for n in range(300)]
    with fhir.serve(tmp_path / "fhir.db", parse_processes=1) as server:
        url = f"{server.url}/fhir"
        assert httpx.post(url, json=risk_bundle(DAY, rows[:150] * 2)).status_code == 200
        [parser] = [p for p in multiprocessing.active_children() if p.pid != os.getpid()]
        os.kill(parser.pid, signal.SIGKILL)
        parser.join(10)
        assert httpx.post(url, json=risk_bundle(DAY, rows), timeout=30).status_code == 200
        assert httpx.post(url, json=risk_bundle(DAY, rows), timeout=30).status_code == 200
        assert server_checksum(url, DAY) == (300, resources.checksum(rows))
        assert any(p.pid != parser.pid for p in multiprocessing.active_children())  # a new parser


def test_a_parser_killed_in_the_middle_of_a_bundle_loses_and_repeats_nothing(tmp_path):
    """SIGKILL the parser once it is busy with a bundle of the largest size: the bundle is still
    written, once, and the same bundle sent again (the writer's retry) changes nothing."""
    import multiprocessing
    import os
    import signal
    import threading
    import time

    rows = [(f"P{n:07d}", ("low", "high")[n % 2], n / 10_007) for n in range(fhir.MAX_ENTRIES)]
    body = httpx.Request("POST", "http://x", json=risk_bundle(DAY, rows)).content
    with fhir.serve(tmp_path / "fhir.db", parse_processes=1) as server:
        url = f"{server.url}/fhir"
        first = [(f"Q{n:07d}", "low", 0.5) for n in range(300)]
        assert httpx.post(url, json=risk_bundle(DAY, first)).status_code == 200  # starts the parser
        [parser] = multiprocessing.active_children()
        replies = []
        sender = threading.Thread(target=lambda: replies.append(httpx.post(url, content=body, timeout=60)))
        idle, deadline = cpu_ticks(parser.pid), time.monotonic() + 30
        sender.start()
        while cpu_ticks(parser.pid) == idle:  # the parser has taken the bundle up
            assert time.monotonic() < deadline and sender.is_alive(), "the parser never took the bundle"
            time.sleep(0.002)
        os.kill(parser.pid, signal.SIGKILL)
        sender.join(60)
        assert replies and replies[0].status_code == 200
        assert parser.pid not in {p.pid for p in multiprocessing.active_children()}
        written = (len(first) + len(rows), resources.checksum([*first, *rows]))
        assert server_checksum(url, DAY) == written
        assert httpx.post(url, content=body, timeout=60).status_code == 200
        assert server_checksum(url, DAY) == written


def cpu_ticks(pid: int) -> int:
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])

