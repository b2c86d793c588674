"""A threaded JSON HTTP server on loopback, started and stopped from Python (tests, `mlwright dev`)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

# (method, path, query, body) -> (status, json body)
Handler = Callable[[str, str, dict[str, str], object], tuple[int, object]]


class JsonServer:
    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        route = handler

        class _Request(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parsed = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length)) if length else None
                    status, payload = route(self.command, parsed.path, query, body)
                except json.JSONDecodeError as e:
                    status, payload = 400, {"error": f"invalid JSON: {e}"}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = _serve  # noqa: N815

            def log_message(self, *_args) -> None:  # keep test and dev output readable
                pass

        self._server = ThreadingHTTPServer((host, port), _Request)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> JsonServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join()

    def __enter__(self) -> JsonServer:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()
