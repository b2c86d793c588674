"""Worker processes use an Arrow allocator that returns freed memory to the OS (bench/features.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = "import workers, pyarrow; print(pyarrow.default_memory_pool().backend_name)"


@pytest.mark.parametrize(("configured", "expected"), [(None, "jemalloc"), ("mimalloc", "mimalloc")])
def test_workers_default_to_jemalloc_and_the_environment_wins(configured, expected):
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if configured:
        env["ARROW_DEFAULT_MEMORY_POOL"] = configured
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
