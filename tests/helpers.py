"""Shared test helpers (fixtures live in conftest.py)."""

from __future__ import annotations

import socket

from mlwright.devstack import installed_binary


def venv_bin(name: str) -> str:
    """temporal or temporal-test-server, as the project's test dependencies install them."""
    return installed_binary(name, "-e '.[test]'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
