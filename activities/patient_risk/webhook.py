"""POSTs of small JSON bodies (alerts) over connections kept alive per sender thread.

httpx spent ~0.8 ms of the worker's CPU on each alert (request and response models, its pool's
lock contended by every sender thread); the standard library's ``http.client`` on a connection
each thread keeps spends ~0.2 ms, and at 4,000 alerts a run the sender's CPU was the step's time.
The body is encoded as httpx encodes ``json=``, failures are worded and classified as
``http_errors.translated`` words httpx's, and no request is retried here: the step's retry policy
decides. Where a proxy is configured for a route, its POST goes through httpx, which honours it.
"""

from __future__ import annotations

import http.client
import json
import select
import ssl
import threading
import urllib.request
from urllib.parse import urlsplit

import httpx

from activities.patient_risk.http_errors import refused, translated
from mlwright.errors import Transient

TIMEOUT_S = 30.0  # as the worker's httpx client: 30 s per read or write ...
CONNECT_TIMEOUT_S = 5.0  # ... and 5 s to connect: an unreachable route must not hold a sender long


def encode(body: dict) -> bytes:
    """What httpx sends for ``json=body``."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


class Poster:
    """One connection per (thread, origin), opened on first use and closed by ``close``. Built per
    window of senders, so its threads' connections end with the window."""

    def __init__(self, fallback: httpx.Client, tls: ssl.SSLContext) -> None:
        self.fallback, self.tls = fallback, tls
        self._local = threading.local()
        self._opened: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._proxies = urllib.request.getproxies()  # read once: it scans the environment

    def post(self, url: str, body: dict, headers: dict[str, str], what: str) -> None:
        """POST ``body`` as JSON; raise ``InvalidInput`` (4xx) or ``Transient`` (408, 429, 5xx, the
        connection failing) naming ``what``."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise refused(what, f"not an http(s) URL: {url[:100]!r}")
        if parts.scheme in self._proxies and not urllib.request.proxy_bypass(parts.hostname):
            with translated(what):
                self.fallback.post(url, json=body, headers=headers).raise_for_status()
            return
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = self._connection(parts.scheme, parts.hostname, parts.port)
        try:
            if connection.sock is None:
                connection.timeout = CONNECT_TIMEOUT_S
                connection.connect()
                connection.sock.settimeout(TIMEOUT_S)
            connection.request("POST", path, body=encode(body),
                               headers={"Content-Type": "application/json", **headers})
            response = connection.getresponse()
            text = response.read()
        except (OSError, http.client.HTTPException) as e:
            connection.close()  # half a request or reply on it: the next one starts afresh
            raise Transient(f"{what}: {type(e).__name__}: {e}") from e
        if response.status >= 300:
            # Redirects are not followed (nor by httpx by default): a route must name its endpoint.
            raise refused(what, f"HTTP {response.status} {text.decode(errors='replace')[:300]}", response.status)

    def _connection(self, scheme: str, host: str, port: int | None) -> http.client.HTTPConnection:
        origins = self._local.__dict__.setdefault("origins", {})
        connection = origins.get((scheme, host, port))
        if connection is not None and connection.sock is not None and _closed_by_peer(connection.sock):
            connection.close()  # reconnects on the next request, instead of failing it
        if connection is None:
            if scheme == "https":
                connection = http.client.HTTPSConnection(host, port, context=self.tls)
            else:
                connection = http.client.HTTPConnection(host, port)
            origins[(scheme, host, port)] = connection
            with self._lock:
                self._opened.append(connection)
        return connection

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()

    def __enter__(self) -> Poster:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def _closed_by_peer(sock) -> bool:
    """An idle kept-alive socket that is readable has been closed by the server (or holds bytes
    no request asked for): either way it cannot carry the next request. ``poll`` where there is
    one: ``select`` refuses descriptors past 1023, which a busy worker can hold."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)
