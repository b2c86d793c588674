"""Child processes kept running: a child that exits is restarted after an exponential backoff, a
child that keeps dying right after it starts is given up on (``CrashLoop``), and ``stop`` leaves no
child behind. Used by `mlwright dev` for its server, services and workers.

Children run in their own process group, so a terminal's Ctrl-C reaches only the supervisor, which
then stops them in order (workers before the server they report to). On Linux each child also gets
SIGTERM when the supervisor dies, even by SIGKILL, so no worker outlives the stack.

A child is either exec'd (any command) or, with ``fork``, a ``python -m MODULE`` command run in a
fork of the supervisor (mlwright/forked.py); both are restarted, stopped and reported alike.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mlwright.forked import ForkedProcess, fork_module

log = logging.getLogger("mlwright.dev")


class CrashLoop(RuntimeError):
    """A child died right after starting too many times in a row; restarting it again is pointless."""


@dataclass(frozen=True)
class Backoff:
    first_s: float = 0.5
    cap_s: float = 30.0
    # A child that ran this long was healthy: its next crash starts the backoff afresh. Generous,
    # because a worker's imports alone took 20-30 s on a loaded 2-core machine.
    stable_after_s: float = 60.0
    give_up_after: int = 5  # quick crashes in a row

    def delay(self, quick_crashes: int) -> float:
        return min(self.cap_s, self.first_s * 2 ** quick_crashes)


@dataclass
class Child:
    name: str
    command: list[str]
    log_file: Path
    tier: int = 0
    env: dict[str, str] | None = None  # on top of this process's environment
    pass_fds: tuple[int, ...] = ()  # descriptors it inherits (a restarted child gets them again)
    # A `python -m ...` command run in a fork of this process (mlwright/forked.py), not exec'd.
    fork: bool = False
    proc: subprocess.Popen | ForkedProcess | None = None
    started_at: float = 0.0
    quick_crashes: int = 0
    restarts: int = 0
    restart_at: float | None = None
    last_exit: int | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None


# Looked up once here: between fork and exec the child must not load libraries or take locks.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Supervisor:
    def __init__(self, backoff: Backoff | None = None) -> None:
        self.backoff = backoff or Backoff()
        self.children: list[Child] = []

    def spawn(self, name: str, command: list[str], log_file: Path, tier: int = 0,
              env: dict[str, str] | None = None, pass_fds: tuple[int, ...] = (), fork: bool = False) -> Child:
        """Start ``command`` logging to ``log_file``; ``stop`` stops higher tiers first. With ``fork``,
        a ``python -m MODULE ...`` command runs in a fork of this process (restarts too)."""
        child = Child(name, command, log_file, tier, env, pass_fds, fork)
        self.children.append(child)
        self._start(child)
        return child

    def _start(self, child: Child) -> None:
        if child.fork:
            child.proc = fork_module(child.command, child.name, child.log_file, child.env, child.pass_fds)
        else:
            self._exec(child)
        child.started_at, child.restart_at = time.monotonic(), None
        log.info("started %s (pid %s), log %s", child.name, child.proc.pid, child.log_file)

    @staticmethod
    def _exec(child: Child) -> None:
        with open(child.log_file, "ab") as out:  # the child keeps its own copy of the descriptor
            child.proc = subprocess.Popen(
                child.command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(child.env or {})},
                process_group=0, preexec_fn=_die_with_parent if _prctl else None, pass_fds=child.pass_fds)

    def exited(self) -> list[Child]:
        return [c for c in self.children if c.proc is not None and c.proc.poll() is not None]

    def check(self) -> None:
        """Schedule a restart for every child that exited, restart those whose backoff is over;
        raise ``CrashLoop`` for a child that keeps dying right after it starts."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is None and child.proc is not None and child.proc.poll() is not None:
                self._schedule(child, now)
            elif child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                with open(child.log_file, "a") as out:
                    out.write(f"\n---- mlwright dev: restart {child.restarts} of {child.name} after "
                              f"{describe_exit(child.last_exit)} ----\n")
                self._start(child)

    def _schedule(self, child: Child, now: float) -> None:
        code, lived = child.proc.returncode, now - child.started_at
        child.last_exit = code
        child.quick_crashes = child.quick_crashes + 1 if lived < self.backoff.stable_after_s else 0
        if child.quick_crashes >= self.backoff.give_up_after:
            raise CrashLoop(
                f"{child.name} died {child.quick_crashes} times in a row within "
                f"{self.backoff.stable_after_s:.0f}s of starting (last: {describe_exit(code)}); "
                f"not restarting it again: see {child.log_file}")
        delay = self.backoff.delay(child.quick_crashes)
        child.restart_at = now + delay
        level = logging.ERROR if child.quick_crashes else logging.WARNING
        quick, stable = child.quick_crashes, self.backoff.stable_after_s
        streak = f" ({quick} in a row within {stable:.0f}s of starting)" if quick else ""
        log.log(level, "%s (pid %s) stopped: %s after %.1fs; restarting in %.1fs%s", child.name,
                child.proc.pid, describe_exit(code), lived, delay, streak)

    def stop(self, timeout_s: float) -> None:
        """SIGTERM every child of a tier at once, highest tier first, and wait for them; SIGKILL
        what has not stopped after ``timeout_s``."""
        for child in self.children:
            child.restart_at = None
        for tier in sorted({c.tier for c in self.children}, reverse=True):
            running = [c for c in self.children if c.tier == tier and c.proc and c.proc.poll() is None]
            for child in running:
                child.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            for child in running:
                try:
                    child.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:  # ForkedProcess.wait raises it too
                    log.warning("%s did not stop in %ss; killing it", child.name, timeout_s)
                    child.proc.kill()
                    child.proc.wait()
        self.children.clear()
