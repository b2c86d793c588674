"""Start a ``python -m MODULE ARGS`` child by forking this interpreter instead of exec'ing a new one.

`mlwright dev` imports what every Python child of the stack imports anyway (the Temporal SDK,
pydantic, the settings, OpenTelemetry: ~0.6 CPU s each) once, then forks: on a 2-core machine the
children no longer spend that CPU side by side while the stack starts (bench/README.md, "Where the
start's time goes"). Only safe from a process that has started no thread and no Temporal runtime
(a forked child gets one thread and copies of any lock another thread held): the supervisor checks.

``ForkedProcess`` answers what the supervisor asks of a ``subprocess.Popen``.
"""

from __future__ import annotations

import ctypes
import os
import runpy
import select
import signal
import subprocess
import sys
import threading
import traceback
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
_PR_SET_PDEATHSIG, _PR_SET_NAME = 1, 15


class ForkedProcess:
    def __init__(self, pid: int, args: list[str]) -> None:
        self.pid, self.args = pid, args
        self.returncode: int | None = None
        # Waiting on a pidfd wakes the moment the child exits, without polling.
        self._pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None

    def poll(self) -> int | None:
        if self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
                if self._pidfd is not None:
                    os.close(self._pidfd)
                    self._pidfd = None
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.poll() is not None:
            return self.returncode
        if self._pidfd is None:  # no pidfd: block (no timeout) as Popen.wait would
            if timeout is not None:
                raise subprocess.TimeoutExpired(self.args, timeout)
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode
        if not select.select([self._pidfd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.wait(0)

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def set_name(name: str) -> None:
    """The process's name (/proc/PID/comm, `ps -o comm`): a forked child keeps its parent's command line."""
    if _libc is not None:
        _libc.prctl(_PR_SET_NAME, name.encode()[:15])


def thread_count() -> int:
    return len(os.listdir("/proc/self/task")) if sys.platform == "linux" else threading.active_count()


def ensure_forkable() -> None:
    """Refuse to fork from a process with a second thread: the child could inherit a held lock."""
    if (threads := thread_count()) != 1:
        raise RuntimeError(f"cannot fork the stack's children: this process runs {threads} threads")


def fork_module(args: list[str], name: str, log_file: Path, env: dict[str, str] | None,
                keep_fds: tuple[int, ...]) -> ForkedProcess:
    """Run ``args`` (``[python, "-m", module, *argv]``) in a forked child: its own process group,
    output appended to ``log_file``, SIGTERM when this process dies (Linux), ``env`` added."""
    if len(args) < 3 or args[1] != "-m":
        raise ValueError(f"only `python -m MODULE ...` children can be forked, not {args}")
    ensure_forkable()
    parent = os.getpid()
    out = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()  # else what this process buffered would be written twice
    pid = os.fork()
    if pid:
        os.close(out)
        return ForkedProcess(pid, args)
    code = 1
    try:
        _become_child(parent, name, out, keep_fds, env)
        sys.argv = [args[2], *args[3:]]
        runpy.run_module(args[2], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - the child's failure goes to its own log, never up the stack
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # never back into the parent's code (its finally blocks, its atexit)


def _become_child(parent: int, name: str, out: int, keep_fds: tuple[int, ...], env: dict[str, str] | None) -> None:
    os.setpgid(0, 0)  # a terminal's Ctrl-C reaches only the supervisor, as with exec'd children
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    set_name(name)
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)
    os.dup2(out, 1)
    os.dup2(out, 2)
    keep = {0, 1, 2, *keep_fds}
    for fd in map(int, os.listdir("/proc/self/fd") if sys.platform == "linux" else range(3, 256)):
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the listing's own descriptor, already closed
    for sig in (signal.SIGTERM, signal.SIGINT):  # the supervisor's handlers are not the child's
        signal.signal(sig, signal.SIG_DFL)
    os.environ.update(env or {})
    from mlwright.settings import get_settings

    get_settings.cache_clear()  # read again with this child's environment
