"""HTTP requests written byte by byte, for what httpx refuses to send (bad Content-Length, lies)."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlparse

# Longer than any honest reply takes on loopback, far shorter than a hung handler.
REPLY_TIMEOUT_S = 5.0


def raw_request(url: str, head: str, body: bytes = b"") -> tuple[int, dict, socket.socket]:
    """Send ``head`` (request line and headers, without the blank line) and ``body``; return the
    status and JSON reply, and the still-open socket. A handler that hangs fails with TimeoutError."""
    where = urlparse(url)
    sock = socket.create_connection((where.hostname, where.port), timeout=REPLY_TIMEOUT_S)
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body)
    reply = sock.makefile("rb")
    status = int(reply.readline().split()[1])
    headers = {}
    while (line := reply.readline().strip()) != b"":
        name, _, value = line.decode().partition(":")
        headers[name.lower()] = value.strip()
    payload = json.loads(reply.read(int(headers["content-length"])))
    return status, payload, sock


def status_of(url: str, head: str, body: bytes = b"") -> tuple[int, dict]:
    status, payload, sock = raw_request(url, head, body)
    sock.close()
    return status, payload
