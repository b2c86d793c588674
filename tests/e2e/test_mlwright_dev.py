"""`mlwright up` / `demo` / `registry` / `down`: the README's first command, on free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import free_port, venv_bin

pytestmark = pytest.mark.e2e


def mlwright(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlwright.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def stack_env(home: Path) -> dict[str, str]:
    """A private stack: its own home and a free port for every service (alert routes follow the inbox)."""
    env = {**os.environ, "MLWRIGHT_HOME": str(home), "MLWRIGHT_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
           "MLWRIGHT_DEV_UI_PORT": str(free_port()),
           "MLWRIGHT_PHARMACY_URL": f"http://127.0.0.1:{free_port()}",
           "MLWRIGHT_FHIR_URL": f"http://127.0.0.1:{free_port()}/fhir",
           "MLWRIGHT_DEV_ALERT_INBOX_PORT": str(free_port()), "MLWRIGHT_CODEC_PORT": str(free_port())}
    env.pop("MLWRIGHT_ALERT_ROUTES", None)
    return env


def children(pid: int) -> dict[int, str]:
    """Live child processes of ``pid``: pid -> name and command line (a child forked by `mlwright
    dev` has the supervisor's command line; its name, /proc/PID/comm, says which child it is)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found[int(stat.parent.name)] = f"{(stat.parent / 'comm').read_text().strip()}: {command}"
        except (OSError, ValueError):
            continue  # exited while we looked
    return found


def is_io_worker(name_and_command: str) -> bool:
    return name_and_command.startswith("worker-io:") or " -m workers io " in name_and_command


def test_embedded_stack_runs_the_demo_and_keeps_state_across_restarts(tmp_path):
    env = stack_env(tmp_path / "home")
    port = env["MLWRIGHT_TEMPORAL_ADDRESS"].rpartition(":")[2]
    try:
        up = mlwright("up", "--timeout", "90", env=env)
        assert up.returncode == 0, up.stderr + up.stdout
        demo = mlwright("demo", env=env)
        assert demo.returncode == 0, demo.stderr + demo.stdout
        assert "decision: PROMOTED" in demo.stdout
        workflow_id = next(w for w in demo.stdout.split() if w.startswith("demo-training-"))

        shown = mlwright("registry", "breast-cancer", env=env)
        assert "v1 logistic_regression  [staging, production]" in shown.stdout

        assert mlwright("down", env=env).returncode == 0
        assert mlwright("up", "--timeout", "90", env=env).returncode == 0
        described = subprocess.run([venv_bin("temporal"), "workflow", "describe", "-w", workflow_id, "--address",
                                    f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=30)
        assert "COMPLETED" in described.stdout.upper(), described.stderr
    finally:
        mlwright("down", env=env)


def test_a_stack_that_cannot_start_says_where_to_look(tmp_path):
    with socket.socket() as taken:  # a service port already in use
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {**os.environ, "MLWRIGHT_HOME": str(tmp_path), "MLWRIGHT_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
               "MLWRIGHT_DEV_UI_PORT": str(free_port()), "MLWRIGHT_DEV_ALERT_INBOX_PORT": str(taken.getsockname()[1])}
        try:
            up = mlwright("up", "--timeout", "60", env=env)
        finally:
            mlwright("down", env=env)
    assert up.returncode != 0 and "the dev stack exited" in up.stderr and "Traceback" not in up.stderr
    assert "services exited with code 1" in up.stderr  # the reason, not only where to look


def test_demo_without_a_stack_says_what_to_do(tmp_path):
    env = {**os.environ, "MLWRIGHT_HOME": str(tmp_path), "MLWRIGHT_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}
    demo = mlwright("demo", env=env, timeout=60)
    assert demo.returncode != 0 and "mlwright up" in demo.stderr


def test_invalid_setting_is_refused_with_its_name(tmp_path):
    env = {**os.environ, "MLWRIGHT_HOME": str(tmp_path), "MLWRIGHT_IO_CONCURRENCY": "zero"}
    out = mlwright("registry", "x", env=env, timeout=60)
    assert out.returncode != 0 and "io_concurrency" in out.stderr


def test_a_killed_worker_is_restarted_and_ctrl_c_leaves_no_process(tmp_path):
    env = stack_env(tmp_path / "home")
    out = tmp_path / "dev.out"
    with open(out, "wb") as log:
        dev = subprocess.Popen([sys.executable, "-m", "mlwright.cli", "dev"], env=env, start_new_session=True,
                               stdout=log, stderr=subprocess.STDOUT)
    seen: set[int] = set()
    try:
        pidfile = tmp_path / "home" / "dev.pid"
        deadline = time.monotonic() + 30
        while not pidfile.exists():  # then `up` finds the running stack and only waits until it is ready
            assert dev.poll() is None and time.monotonic() < deadline, "mlwright dev did not start"
            time.sleep(0.1)
        until_ready = mlwright("up", "--timeout", "90", env=env)
        assert until_ready.returncode == 0, until_ready.stderr + until_ready.stdout
        before = children(dev.pid)
        seen |= set(before)
        io = next(pid for pid, cmd in before.items() if is_io_worker(cmd))

        os.kill(io, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:  # a new io worker, polling the io queue (the worker identity is pid@host)
            now = children(dev.pid)
            seen |= set(now)
            new_io = [pid for pid, cmd in now.items() if is_io_worker(cmd) and pid != io]
            described = subprocess.run(
                [venv_bin("temporal"), "task-queue", "describe", "--task-queue", "io", "--task-queue-type",
                 "activity", "--address", env["MLWRIGHT_TEMPORAL_ADDRESS"], "-o", "json"],
                capture_output=True, text=True, timeout=30)
            if new_io and f'"identity": "{new_io[0]}@' in described.stdout:
                break
            assert dev.poll() is None, "the dev stack stopped when one worker died"
            assert time.monotonic() < deadline, f"no new io worker polls: {now} {described.stdout}"
            time.sleep(0.3)
        assert {pid: cmd for pid, cmd in now.items() if pid != new_io[0]} == {
            pid: cmd for pid, cmd in before.items() if pid != io}  # the server, services, other workers
        assert f"worker-io (pid {io}) stopped: killed by SIGKILL" in out.read_text()

        os.killpg(dev.pid, signal.SIGINT)  # what Ctrl-C in its terminal sends
        assert dev.wait(60) == 0
    finally:
        if dev.poll() is None:
            dev.kill()
        mlwright("down", env=env)
    assert [pid for pid in seen if Path(f"/proc/{pid}").exists()] == []
