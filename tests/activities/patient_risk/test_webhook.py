"""The alert poster against real servers on loopback: what it sends, how it reuses and renews
connections, and how failures are classified."""

from __future__ import annotations

import json
import socket
import ssl
import threading

import httpx
import pytest

from activities.patient_risk import webhook
from mlwright.errors import InvalidInput, Transient
from mlwright.services import alert_inbox
from mlwright.services.http import JsonServer

BODY = {"dedup_key": "k1", "patient_id": "P0000001", "score": 0.912345, "note": "Ünïcode ✓", "rules": []}


@pytest.fixture
def poster():
    with httpx.Client() as fallback, webhook.Poster(fallback, ssl.create_default_context()) as p:
        yield p


def test_the_body_is_what_httpx_sends_and_one_connection_carries_a_threads_posts(tmp_path, poster):
    seen = []

    def route(method, path, query, body):
        seen.append((method, path, query, body))
        return 202, {"accepted": True}

    with JsonServer(route) as server:
        for i in range(3):
            poster.post(f"{server.url}/alerts?team=a", {**BODY, "n": i}, {"Idempotency-Key": "k1"}, what="alert_routes.warning")
    assert seen == [("POST", "/alerts", {"team": "a"}, {**BODY, "n": i}) for i in range(3)]
    assert len(poster._opened) == 1
    request = httpx.Client().build_request("POST", "http://x/", json=BODY)
    assert webhook.encode(BODY) == request.read()


class OneReplyPerConnection:
    """Answers one request per connection, then closes it, as a server ending keep-alive does."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.connections, self.closed = 0, threading.Semaphore(0)
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/alerts"

    def _serve(self) -> None:
        while True:
            conn, _ = self.listener.accept()
            self.connections += 1
            reader = conn.makefile("rb")
            length = 0
            while (line := reader.readline().strip()) != b"":
                name, _, value = line.decode().partition(":")
                length = int(value) if name.lower() == "content-length" else length
            json.loads(reader.read(length))
            conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            reader.close()
            conn.close()
            self.closed.release()


def test_a_connection_the_server_closed_is_renewed_not_failed(poster):
    server = OneReplyPerConnection()
    for _ in range(3):
        poster.post(server.url, BODY, {}, what="alert_routes.warning")
        assert server.closed.acquire(timeout=5)  # the server has closed it before the next post
    assert server.connections == 3


@pytest.mark.parametrize(("status", "error"), [(400, InvalidInput), (404, InvalidInput), (408, Transient),
                                               (429, Transient), (503, Transient)])
def test_failures_are_classified_and_name_the_route(poster, status, error):
    with JsonServer(lambda *_request: (status, {"error": "no"})) as server:
        with pytest.raises(error, match=rf"alert_routes.critical: .*HTTP {status}"):
            poster.post(f"{server.url}/alerts", BODY, {}, what="alert_routes.critical")
        # The connection is still good after a refusal: the next post on it goes through.
        with pytest.raises(error):
            poster.post(f"{server.url}/alerts", BODY, {}, what="alert_routes.critical")
    assert len(poster._opened) == 1


def test_an_unreachable_route_is_transient_and_a_bad_url_is_invalid(poster):
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(Transient, match="alert_routes.warning: ConnectionRefusedError"):
        poster.post(f"http://127.0.0.1:{port}/alerts", BODY, {}, what="alert_routes.warning")
    with pytest.raises(InvalidInput, match="alert_routes.warning: not an http"):
        poster.post("ftp://127.0.0.1/alerts", BODY, {}, what="alert_routes.warning")


def test_repeats_through_the_poster_are_accepted_once_by_the_inbox(tmp_path, poster):
    server, inbox = alert_inbox.serve(tmp_path / "alerts.jsonl")
    with server:
        for _ in range(2):
            poster.post(f"{server.url}/alerts", BODY, {"Idempotency-Key": "k1"}, what="alert_routes.warning")
    assert inbox.accepted == 1 and inbox.deliveries == {"k1": 2}


def test_a_route_behind_a_configured_proxy_goes_through_it(monkeypatch):
    seen = []
    with JsonServer(lambda method, path, _query, body: (seen.append((method, path, body)), (202, {}))[1]) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        closed = socket.create_server(("127.0.0.1", 0))  # nothing listens there: only the proxy can answer
        port = closed.getsockname()[1]
        closed.close()
        with httpx.Client() as fallback, webhook.Poster(fallback, ssl.create_default_context()) as poster:
            poster.post(f"http://127.0.0.1:{port}/alerts", BODY, {}, what="alert_routes.warning")
    assert seen == [("POST", "/alerts", BODY)]
