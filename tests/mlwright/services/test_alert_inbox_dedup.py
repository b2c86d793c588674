"""The dev alert inbox accepts an alert once per dedup key and counts every delivery."""

from __future__ import annotations

import httpx

from mlwright.services import alert_inbox


def test_a_repeated_delivery_is_acknowledged_but_accepted_once(tmp_path):
    server, inbox = alert_inbox.serve(tmp_path / "alerts.jsonl")
    with server:
        url = f"{server.url}/alerts"
        first = httpx.post(url, json={"dedup_key": "k1", "n": 1}, headers={"Idempotency-Key": "k1"})
        again = httpx.post(url, json={"dedup_key": "k1", "n": 2}, headers={"Idempotency-Key": "k1"})
        other = httpx.post(url, json={"dedup_key": "k2"})
        listed = httpx.get(url).json()
    assert (first.status_code, again.status_code, other.status_code) == (202, 200, 202)
    assert again.json() == {"accepted": False, "duplicate": True, "dedup_key": "k1"}
    assert [a["dedup_key"] for a in inbox.received] == ["k1", "k2"] and inbox.received[0]["n"] == 1
    assert inbox.deliveries == {"k1": 2, "k2": 1}
    assert (listed["deliveries"], listed["accepted"]) == (3, 2)
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 2
