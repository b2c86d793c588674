"""`python -m mlwright.services` as `mlwright dev` runs it: a separate process on free ports with its
own home. An oversized body is refused without growing the process (peak RSS measured), and the
default alert routes follow the inbox port, so a second stack pages its own inbox."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from mlwright.settings import Settings
from tests.helpers import free_port
from tests.mlwright.services.raw_http import REPLY_TIMEOUT_S

OVERSIZED = 60 << 20


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


@pytest.fixture
def services(tmp_path):
    ports = {"pharmacy": free_port(), "fhir": free_port(), "inbox": free_port()}
    env = {**os.environ, "MLWRIGHT_HOME": str(tmp_path / "home"), "MLWRIGHT_ENVIRONMENT": "test",
           "MLWRIGHT_PHARMACY_URL": f"http://127.0.0.1:{ports['pharmacy']}",
           "MLWRIGHT_FHIR_URL": f"http://127.0.0.1:{ports['fhir']}/fhir",
           "MLWRIGHT_DEV_ALERT_INBOX_PORT": str(ports["inbox"])}
    env.pop("MLWRIGHT_ALERT_ROUTES", None)
    proc = subprocess.Popen([sys.executable, "-m", "mlwright.services"], env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{ports['inbox']}/alerts", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "the services did not come up"
                time.sleep(0.1)
        yield proc, ports, env
    finally:
        proc.terminate()
        proc.wait(10)


def test_an_oversized_body_is_refused_unread(services):
    proc, ports, _ = services
    before = peak_rss_mb(proc.pid)
    sock = socket.create_connection(("127.0.0.1", ports["fhir"]), timeout=REPLY_TIMEOUT_S)
    sock.sendall(f"POST /fhir HTTP/1.1\r\nHost: a\r\nContent-Length: {OVERSIZED}\r\n\r\n".encode())

    def send_body() -> None:  # the server stops listening mid-way: a broken pipe is the expected end
        try:
            sock.sendall(b"x" * OVERSIZED)
        except OSError:
            pass

    sender = threading.Thread(target=send_body)
    sender.start()
    reply = sock.recv(200)
    sender.join(REPLY_TIMEOUT_S)
    sock.close()
    assert reply.split()[1] == b"413"
    grown = peak_rss_mb(proc.pid) - before
    assert grown < 10, f"peak RSS grew {grown:.0f} MB on a refused {OVERSIZED >> 20} MB body"
    still = httpx.get(f"http://127.0.0.1:{ports['fhir']}/fhir/RiskAssessment", params={"date": "2026-11-27"})
    assert still.status_code == 200


def test_default_alert_routes_page_this_stacks_inbox(services, monkeypatch):
    _, ports, env = services
    monkeypatch.setenv("MLWRIGHT_DEV_ALERT_INBOX_PORT", env["MLWRIGHT_DEV_ALERT_INBOX_PORT"])
    monkeypatch.delenv("MLWRIGHT_ALERT_ROUTES", raising=False)
    routes = Settings(_env_file=None).alert_routes
    for url in routes["critical"] + routes["warning"]:
        assert httpx.post(url, json={"kind": "test", "to": url}).status_code == 202
    received = httpx.get(f"http://127.0.0.1:{ports['inbox']}/alerts").json()["alerts"]
    assert [a["to"] for a in received] == routes["critical"] + routes["warning"]
    assert Settings(_env_file=None, alert_routes={"critical": ["http://elsewhere/a"]}).alert_routes == {
        "critical": ["http://elsewhere/a"]}  # set explicitly: kept as given
