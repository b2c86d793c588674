"""The dev stack's state is owner-only: state dir, store, dev-server DB, FHIR DB, alert log, logs.

Runs the real DevStack.start() (the Temporal dev server and the services as child processes) under
umask 0022, the usual world-readable default. The worker processes are left out: they take ~30 s
to start here, and what they write (store, artifacts) is covered by tests/mlwright/test_private_files.py.
"""

from __future__ import annotations

import os
import signal
import stat
import time

import httpx
import pytest

from mlwright import devstack
from mlwright.settings import Settings
from tests.helpers import free_port

pytestmark = pytest.mark.e2e


def test_dev_stack_creates_its_state_owner_only(tmp_path, monkeypatch):
    home, inbox = tmp_path / "home", free_port()
    for name, value in {"HOME": str(home), "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
                        "DEV_UI_PORT": str(free_port()), "PHARMACY_URL": f"http://127.0.0.1:{free_port()}",
                        "FHIR_URL": f"http://127.0.0.1:{free_port()}/fhir",
                        "DEV_ALERT_INBOX_PORT": str(inbox), "CODEC_PORT": str(free_port())}.items():
        monkeypatch.setenv(f"MLWRIGHT_{name}", value)  # the children read their settings from the environment
    monkeypatch.setattr(devstack, "Resource", [])  # no worker processes (see the module docstring)
    home.mkdir(mode=0o755)
    home.chmod(0o755)  # as `mlwright up` leaves it before the stack starts
    stack = devstack.DevStack(Settings())
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    previous = os.umask(0o022)
    try:
        stack.start()
        # The alert inbox writes its log on the first delivery; the services may still be binding.
        for _ in range(100):
            try:
                httpx.post(f"http://127.0.0.1:{inbox}/alerts", json={"severity": "critical"}).raise_for_status()
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        else:
            raise AssertionError("the alert inbox never accepted a delivery")
        present = {str(p.relative_to(home)) for p in home.rglob("*")}
        modes = {name: stat.S_IMODE((home / name).stat().st_mode) for name in present}
    finally:
        stack.stop()
        os.umask(previous)
    # An ignored SIGTERM left behind would be inherited by every process this one starts later.
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers
    # No mlwright.db: the first worker process that opens the store creates it (test_private_files.py).
    expected = {"temporal.db", "fhir.db", "logs", "logs/alerts.jsonl", "logs/temporal.log",
                "logs/services.log"}
    assert expected <= present, f"missing {expected - present}"
    exposed = {name: oct(m) for name, m in modes.items() if m & 0o077}
    assert exposed == {}, f"readable by others: {exposed}"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
