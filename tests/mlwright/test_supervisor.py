"""The dev stack's supervisor with real child processes: a killed child comes back after a logged
backoff, a child that keeps dying at once is given up on with growing pauses (never a hot loop),
and nothing outlives the supervisor, even when it is SIGKILLed."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mlwright.supervisor import Backoff, CrashLoop, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
FAST = Backoff(first_s=0.05, cap_s=0.4, stable_after_s=5, give_up_after=5)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead but still listed until its parent reaps it
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def until(condition, timeout_s: float = 10, step=None) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        if step:
            step()
        time.sleep(0.02)


def test_a_killed_child_is_restarted_after_a_logged_backoff(tmp_path, caplog):
    supervisor = Supervisor(FAST)
    child = supervisor.spawn("worker-io", SLEEPER, tmp_path / "io.log")
    other = supervisor.spawn("worker-cpu", SLEEPER, tmp_path / "cpu.log")
    first, other_pid = child.pid, other.pid
    try:
        with caplog.at_level(logging.INFO, logger="mlwright.dev"):
            os.kill(first, signal.SIGKILL)
            until(lambda: child.pid != first and alive(child.pid), step=supervisor.check)
        assert f"worker-io (pid {first}) stopped: killed by SIGKILL" in caplog.text
        assert other.pid == other_pid and alive(other_pid)  # the rest is untouched
        assert "restart 1 of worker-io after killed by SIGKILL" in (tmp_path / "io.log").read_text()
    finally:
        supervisor.stop(timeout_s=5)
    assert not alive(child.pid) and not alive(other_pid)


def test_a_child_that_keeps_dying_at_once_is_given_up_with_growing_pauses(tmp_path, caplog):
    supervisor = Supervisor(FAST)
    child = supervisor.spawn("worker-training", [sys.executable, "-c", "raise SystemExit(3)"],
                             tmp_path / "training.log")
    starts = [time.monotonic()]

    def step() -> None:
        before = child.pid
        supervisor.check()
        if child.pid != before:
            starts.append(time.monotonic())

    with pytest.raises(CrashLoop, match=r"worker-training died 5 times in a row .*exit code 3") as gave_up:
        until(lambda: False, timeout_s=30, step=step)
    assert str(tmp_path / "training.log") in str(gave_up.value)
    assert len(starts) == FAST.give_up_after  # four restarts, then it stopped trying
    pauses = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    for n, pause in enumerate(pauses, start=1):  # each pause at least its backoff, capped
        assert pause >= FAST.delay(n), pauses
    assert FAST.delay(10) == FAST.cap_s
    assert caplog.text.count("in a row within 5s of starting)") == FAST.give_up_after - 1
    supervisor.stop(timeout_s=5)


def test_stop_leaves_no_child_even_one_ignoring_sigterm(tmp_path):
    supervisor = Supervisor(FAST)
    stubborn = supervisor.spawn("stubborn", [sys.executable, "-c", textwrap.dedent("""
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(120)""")], tmp_path / "stubborn.log", tier=2)
    server = supervisor.spawn("server", SLEEPER, tmp_path / "server.log", tier=0)
    until(lambda: "ready" in (tmp_path / "stubborn.log").read_text())
    procs = [stubborn.proc, server.proc]
    supervisor.stop(timeout_s=0.5)
    assert all(p.poll() is not None for p in procs)
    assert stubborn.proc.returncode == -signal.SIGKILL and server.proc.returncode == -signal.SIGTERM


def test_children_die_with_a_killed_supervisor(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from mlwright.supervisor import Supervisor
        child = Supervisor().spawn("sleeper", {SLEEPER!r}, Path({str(tmp_path / "s.log")!r}))
        print(child.pid, flush=True)
        time.sleep(120)""")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    assert alive(child_pid)
    parent.kill()
    parent.wait()
    until(lambda: not alive(child_pid))


FORKED_STACK = """
import json, os, signal, sys, time
from pathlib import Path
from mlwright.supervisor import Backoff, CrashLoop, Supervisor

tmp = Path(sys.argv[1])
sys.path.insert(0, str(tmp))  # where the children's module is
supervisor = Supervisor(Backoff(first_s=0.05, cap_s=0.4, stable_after_s=5, give_up_after=3))
sleeper = supervisor.spawn("worker-io", [sys.executable, "-m", "child_module", "sleep"], tmp / "io.log",
                           env={"CHILD_SAYS": "hello"}, fork=True)
first = sleeper.pid
while "argv" not in (tmp / "io.log").read_text():
    time.sleep(0.02)
os.kill(first, signal.SIGKILL)
while sleeper.pid == first or "argv" not in (tmp / "io.log").read_text().partition("restart 1")[2]:
    supervisor.check()
    time.sleep(0.02)
quitter = supervisor.spawn("quitter", [sys.executable, "-m", "child_module", "exit"], tmp / "quit.log", fork=True)
try:
    while True:
        supervisor.check()
        time.sleep(0.02)
except CrashLoop as e:
    gave_up = str(e)
comm = Path(f"/proc/{sleeper.pid}/comm").read_text().strip()
pids = [first, sleeper.pid]
supervisor.stop(timeout_s=5)
print(json.dumps({"pids": pids, "comm": comm, "gave_up": gave_up, "returncode": sleeper.proc.returncode}))
"""

CHILD_MODULE = """
import json, os, sys, time
print("argv", json.dumps(sys.argv[1:]), os.environ.get("CHILD_SAYS"), flush=True)
if sys.argv[1] == "exit":
    raise SystemExit(3)
time.sleep(120)
"""


def test_a_forked_child_runs_its_module_logs_restarts_and_stops(tmp_path):
    """The fork path (`mlwright dev`'s default) behaves as the exec path does: the module runs as
    `python -m` would with its arguments and environment, output in its log, exit codes reported,
    a killed child restarted, stop leaves nothing. In a fresh single-threaded interpreter, as the
    supervisor is (pytest's process has threads: forking it is refused)."""
    (tmp_path / "child_module.py").write_text(CHILD_MODULE)
    done = subprocess.run([sys.executable, "-c", FORKED_STACK, str(tmp_path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    log = (tmp_path / "io.log").read_text()
    assert log.count('argv ["sleep"] hello') == 2 and "restart 1 of worker-io after killed by SIGKILL" in log
    assert out["comm"] == "worker-io"  # how `ps` and bench/startup.py tell forked children apart
    assert "quitter died 3 times in a row" in out["gave_up"] and "exit code 3" in out["gave_up"]
    assert (tmp_path / "quit.log").read_text().count('argv ["exit"] None') == 3
    assert out["returncode"] == -signal.SIGTERM
    assert not any(alive(pid) for pid in out["pids"])


def test_forking_from_a_process_with_threads_is_refused(tmp_path):
    import threading

    from mlwright.forked import fork_module

    stop = threading.Event()
    extra = threading.Thread(target=stop.wait)
    extra.start()
    try:
        with pytest.raises(RuntimeError, match="runs [0-9]+ threads"):
            fork_module([sys.executable, "-m", "json.tool"], "x", tmp_path / "x.log", None, ())
    finally:
        stop.set()
        extra.join()


def test_forked_children_die_with_a_killed_supervisor(tmp_path):
    (tmp_path / "child_module.py").write_text(CHILD_MODULE)
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(tmp_path)!r})
        from mlwright.supervisor import Supervisor
        child = Supervisor().spawn("sleeper", [sys.executable, "-m", "child_module", "sleep"],
                                   Path({str(tmp_path / "s.log")!r}), fork=True)
        print(child.pid, flush=True)
        time.sleep(120)""")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    until(lambda: "argv" in (tmp_path / "s.log").read_text())
    assert alive(child_pid)
    parent.kill()
    parent.wait()
    until(lambda: not alive(child_pid))
