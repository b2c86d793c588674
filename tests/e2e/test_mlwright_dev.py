"""`mlwright up` / `demo` / `registry` / `down`: the README's first command, on free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.helpers import free_port, venv_bin

pytestmark = pytest.mark.e2e


def mlwright(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlwright.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_embedded_stack_runs_the_demo_and_keeps_state_across_restarts(tmp_path):
    port = free_port()
    inbox = free_port()
    env = {**os.environ, "MLWRIGHT_HOME": str(tmp_path / "home"), "MLWRIGHT_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
           "MLWRIGHT_DEV_UI_PORT": str(free_port()), "MLWRIGHT_PHARMACY_URL": f"http://127.0.0.1:{free_port()}",
           "MLWRIGHT_FHIR_URL": f"http://127.0.0.1:{free_port()}/fhir", "MLWRIGHT_DEV_ALERT_INBOX_PORT": str(inbox),
           "MLWRIGHT_ALERT_ROUTES": f'{{"critical": ["http://127.0.0.1:{inbox}/alerts"]}}'}
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


def test_demo_without_a_stack_says_what_to_do(tmp_path):
    env = {**os.environ, "MLWRIGHT_HOME": str(tmp_path), "MLWRIGHT_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}
    demo = mlwright("demo", env=env, timeout=60)
    assert demo.returncode != 0 and "mlwright up" in demo.stderr


def test_invalid_setting_is_refused_with_its_name(tmp_path):
    env = {**os.environ, "MLWRIGHT_HOME": str(tmp_path), "MLWRIGHT_IO_CONCURRENCY": "zero"}
    out = mlwright("registry", "x", env=env, timeout=60)
    assert out.returncode != 0 and "io_concurrency" in out.stderr
