"""A codec server on loopback for tests that drive the `temporal` CLI: payloads are sealed, so the CLI
decodes (and encodes its --input) through it, exactly as an operator's CLI does."""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from mlwright.codec_server import codec_token, create_app
from mlwright.settings import Settings
from tests.helpers import free_port


@dataclass
class CodecServer:
    url: str
    token: str
    settings: Settings

    def cli_args(self) -> list[str]:
        return ["--codec-endpoint", self.url, "--codec-auth", f"Bearer {self.token}"]


@contextlib.contextmanager
def codec_server(settings: Settings) -> Iterator[CodecServer]:
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=settings.codec_host, port=settings.codec_port,
                                           access_log=False, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"codec server did not start on {settings.codec_url}")
        time.sleep(0.01)
    try:
        yield CodecServer(settings.codec_url, codec_token(settings), settings)
    finally:
        server.should_exit = True
        thread.join(10)


_shared: CodecServer | None = None
_lock = threading.Lock()
_keep: list = []


def shared_codec_server() -> CodecServer:
    """One per test process, for the CLI helpers; stops with the process (a daemon thread)."""
    global _shared
    with _lock:
        if _shared is None:
            settings = Settings(environment="test", home=Path(tempfile.mkdtemp(prefix="codec-")),
                                codec_port=free_port())
            running = codec_server(settings)  # kept referenced: a collected generator would stop the server
            _shared = running.__enter__()
            _keep.append(running)
        return _shared
