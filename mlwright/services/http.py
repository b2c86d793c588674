"""A threaded JSON HTTP server on loopback, started and stopped from Python (tests, `mlwright dev`).

The plumbing refuses what no route should have to think about, before reading the body: a missing
(411), malformed or negative (400) ``Content-Length``, a body over ``max_body`` (413), chunked
bodies (411), a repeated query parameter (400); a body that stops arriving gets a 408. A route
refuses its own bad input by raising ``HttpError`` (the reply names the parameter); any other
exception becomes a 500 with a JSON reason instead of a dropped connection.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

log = logging.getLogger("mlwright.services")

# (method, path, query, body) -> (status, json body); a body of bytes is sent as it is: JSON the
# route encoded itself, where encoding the objects would cost more than building them
Handler = Callable[[str, str, dict[str, str], object], tuple[int, object]]
# (status, reason, parameter or None) -> json body: how a service words a refusal
ErrorBody = Callable[[int, str, str | None], object]

DEFAULT_MAX_BODY = 1 << 20
# A client that announces a body and stops sending would otherwise hold a thread forever.
READ_TIMEOUT_S = 15.0
MAX_QUERY_FIELDS = 50
_DIGITS = re.compile(r"[0-9]{1,18}")  # int() would also take "-1", " 5", "+5" and "1_0"
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class HttpError(Exception):
    """A refusal the client can act on: an HTTP status and a reason naming what was wrong."""

    def __init__(self, status: int, reason: str, parameter: str | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.parameter = status, reason, parameter

    def __reduce__(self):  # raised in a worker process (the FHIR endpoint's parsers) and re-raised here
        return type(self), (self.status, self.reason, self.parameter)


def parse_json(data: bytes) -> object:
    try:
        return json.loads(data)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise HttpError(400, f"body is not JSON: {e}") from e


def default_error(_status: int, reason: str, parameter: str | None) -> dict:
    return {"error": reason, **({"parameter": parameter} if parameter else {})}


def only(query: dict[str, str], allowed: set[str]) -> None:
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise HttpError(400, f"unknown query parameter {unknown[0]!r}; allowed: {sorted(allowed)}",
                        unknown[0])


def int_param(query: dict[str, str], name: str, default: int, low: int, high: int | None = None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    bounds = f"an integer from {low}" + (f" to {high}" if high is not None else " up")
    if not _DIGITS.fullmatch(raw) or int(raw) < low or (high is not None and int(raw) > high):
        raise HttpError(400, f"{name} must be {bounds}, got {raw[:40]!r}", name)
    return int(raw)


def day_param(query: dict[str, str], name: str, default: str | None = None) -> str:
    raw = query.get(name, default)
    if raw is None:
        raise HttpError(400, f"{name} is required (YYYY-MM-DD)", name)
    try:
        if _DAY.fullmatch(raw):
            return date.fromisoformat(raw).isoformat()
    except ValueError:
        pass
    raise HttpError(400, f"{name} must be a date YYYY-MM-DD, got {raw[:40]!r}", name)


class JsonServer:
    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0,
                 max_body: int = DEFAULT_MAX_BODY, error_body: ErrorBody = default_error,
                 read_timeout_s: float = READ_TIMEOUT_S, raw_body: bool = False,
                 on_stop: Callable[[], None] | None = None) -> None:
        """``raw_body``: the handler gets the body's bytes (None when there is none) and parses them
        itself; otherwise parsed JSON. ``on_stop`` runs once the server has stopped serving."""
        route, self._on_stop = handler, on_stop

        class _Request(BaseHTTPRequestHandler):
            timeout = read_timeout_s
            # Keep-alive: under HTTP/1.0 every request paid a new TCP connection (a third of each
            # alert's delivery time). Every reply carries a Content-Length and every request's body
            # is read or its connection closed, so a connection can carry the next request.
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes; on a kept-alive connection Nagle's algorithm
            # holds the body until the client's delayed ACK, ~40 ms per reply.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                try:
                    status, payload = self._route()
                except HttpError as e:
                    status, payload = e.status, error_body(e.status, e.reason, e.parameter)
                except TimeoutError:  # the client went quiet mid-body
                    self.close_connection = True
                    reason = f"the body stopped arriving for {read_timeout_s}s"
                    status, payload = 408, error_body(408, reason, "Content-Length")
                except Exception as e:  # a bug must still answer, not drop the connection
                    log.exception("%s %s failed", self.command, urlparse(self.path).path)
                    status, payload = 500, error_body(500, f"internal error: {type(e).__name__}", None)
                self._reply(status, payload)

            def _route(self) -> tuple[int, object]:
                parsed = urlparse(self.path)
                try:
                    fields = parse_qs(parsed.query, keep_blank_values=True, strict_parsing=False,
                                      max_num_fields=MAX_QUERY_FIELDS)
                except ValueError as e:
                    raise HttpError(400, f"query: {e}") from e
                repeated = sorted(k for k, v in fields.items() if len(v) > 1)
                if repeated:
                    raise HttpError(400, f"query parameter {repeated[0]!r} given more than once", repeated[0])
                body = self._body()
                return route(self.command, parsed.path, {k: v[0] for k, v in fields.items()}, body)

            def _body(self) -> object:
                if self.headers.get("Transfer-Encoding"):
                    self.close_connection = True
                    raise HttpError(411, "send the body with a Content-Length, not Transfer-Encoding")
                lengths = self.headers.get_all("Content-Length") or []
                if not lengths:
                    if self.command in {"POST", "PUT", "PATCH"}:
                        raise HttpError(411, "Content-Length is required", "Content-Length")
                    return None
                if len(set(lengths)) > 1 or not _DIGITS.fullmatch(lengths[0].strip()):
                    self.close_connection = True  # where this request's body ends is unknown
                    raise HttpError(400, f"Content-Length must be one non-negative integer, got "
                                    f"{', '.join(lengths)[:40]!r}", "Content-Length")
                length = int(lengths[0])
                if length > max_body:
                    self.close_connection = True  # the unread body must not be parsed as a request
                    raise HttpError(413, f"Content-Length {length} exceeds the limit of {max_body} bytes",
                                    "Content-Length")
                if not length:
                    return None
                data = self.rfile.read(length)
                if len(data) < length:
                    self.close_connection = True
                    raise HttpError(400, f"body ended after {len(data)} of {length} bytes", "Content-Length")
                return data if raw_body else parse_json(data)

            def _reply(self, status: int, payload: object) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    if self.close_connection:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data)
                except (TimeoutError, BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client left; nobody to tell

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve  # noqa: N815

            def log_message(self, *_args) -> None:  # keep test and dev output readable
                pass

        self._server = ThreadingHTTPServer((host, port), _Request)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> JsonServer:
        # A short poll interval: stop() waits for the loop to notice, in every test's teardown.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join()
        if self._on_stop is not None:
            self._on_stop()

    def __enter__(self) -> JsonServer:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()
