"""The shared HTTP plumbing over real loopback sockets: bad framing is refused before the body is
read, promptly (a hang fails the test through the socket timeout), and a route's bug still answers."""

from __future__ import annotations

import time

import httpx
import pytest

from mlwright.services import alert_inbox
from mlwright.services.http import JsonServer
from tests.mlwright.services.raw_http import REPLY_TIMEOUT_S, raw_request, status_of


@pytest.fixture
def echo():
    def route(method, path, query, body):
        return 200, {"body": body, "query": query}

    with JsonServer(route, max_body=1000) as server:
        yield server.url


@pytest.mark.parametrize(("head", "status"), [
    ("POST /x HTTP/1.1\nHost: a\nContent-Length: abc", 400),
    ("POST /x HTTP/1.1\nHost: a\nContent-Length: -1", 400),
    ("POST /x HTTP/1.1\nHost: a\nContent-Length: +5", 400),
    ("POST /x HTTP/1.1\nHost: a\nContent-Length: 1_0", 400),
    ("POST /x HTTP/1.1\nHost: a\nContent-Length: 2\nContent-Length: 3", 400),
    ("POST /x HTTP/1.1\nHost: a", 411),
    ("POST /x HTTP/1.1\nHost: a\nTransfer-Encoding: chunked", 411),
    ("POST /x HTTP/1.1\nHost: a\nContent-Length: 1001", 413),
])
def test_bad_framing_is_refused_without_waiting_for_a_body(echo, head, status):
    started = time.monotonic()
    got, payload = status_of(echo, head)  # no body follows: a handler that reads it would hang
    assert got == status and payload["error"]
    assert "Content-Length" in payload["error"] or "Transfer-Encoding" in payload["error"]
    assert time.monotonic() - started < REPLY_TIMEOUT_S


def test_an_oversized_body_is_refused_before_it_is_sent(echo):
    # Only the headers go out; 413 arriving anyway proves the server did not wait to read 60 MB.
    status, payload, sock = raw_request(echo, f"POST /x HTTP/1.1\nHost: a\nContent-Length: {60 << 20}")
    with sock:
        assert status == 413 and payload["parameter"] == "Content-Length"
        assert sock.recv(1) == b""  # and the connection is closed: the unread bytes are never parsed


def test_a_body_shorter_than_announced_times_out_instead_of_holding_the_handler():
    def route(method, path, query, body):
        return 200, {"body": body}

    with JsonServer(route, read_timeout_s=0.3) as server:
        started = time.monotonic()
        status, payload = status_of(server.url, "POST /x HTTP/1.1\nHost: a\nContent-Length: 10", b'{"a"')
        assert status == 408 and payload["parameter"] == "Content-Length"
        assert time.monotonic() - started < REPLY_TIMEOUT_S
        assert httpx.post(f"{server.url}/x", json=[1]).json() == {"body": [1]}


def test_bodies_queries_and_refusals_are_json_naming_the_problem(echo):
    assert httpx.post(f"{echo}/x?a=1", json={"k": 1}).json() == {"body": {"k": 1}, "query": {"a": "1"}}
    assert httpx.get(f"{echo}/x?a=").json()["query"] == {"a": ""}  # blank is kept for the route to judge
    repeated = httpx.get(f"{echo}/x?a=1&a=2")
    assert repeated.status_code == 400 and repeated.json()["parameter"] == "a"
    not_json = httpx.post(f"{echo}/x", content=b"{nope")
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
    not_utf8 = httpx.post(f"{echo}/x", content=b"\xff\xfe")
    assert not_utf8.status_code == 400


def test_a_failing_route_answers_500_with_a_reason_and_the_server_keeps_serving():
    def broken(method, path, query, body):
        if path == "/boom":
            raise KeyError("P0000001")  # a route's bug; its message may hold data and must not leak
        return 200, {"ok": True}

    with JsonServer(broken) as server:
        reply = httpx.get(f"{server.url}/boom")
        assert reply.status_code == 500 and reply.json() == {"error": "internal error: KeyError"}
        assert httpx.get(f"{server.url}/fine").json() == {"ok": True}


def test_the_alert_inbox_bounds_bodies_and_what_it_keeps():
    server, inbox = alert_inbox.serve()
    inbox.max_kept = 3
    with server:
        for n in range(5):
            assert httpx.post(f"{server.url}/alerts", json={"n": n}).status_code == 202
        assert [a["n"] for a in httpx.get(f"{server.url}/alerts").json()["alerts"]] == [2, 3, 4]
        big = {"n": 9, "pad": "x" * alert_inbox.MAX_BODY}
        head = f"POST /alerts HTTP/1.1\nHost: a\nContent-Length: {len(str(big))}"
        status, payload = status_of(server.url, head)
        assert status == 413 and payload["parameter"] == "Content-Length"
        assert [a["n"] for a in inbox.received] == [2, 3, 4]
