"""Driving the real `temporal` CLI binary from tests."""

from __future__ import annotations

import asyncio
import json
import subprocess

from tests.helpers import venv_bin


async def temporal(*args: str, address: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = await asyncio.create_subprocess_exec(
        venv_bin("temporal"), *args, "--address", address,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    done = subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())
    if check and done.returncode != 0:
        raise AssertionError(f"temporal {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done


async def query_json(workflow_id: str, query: str, address: str) -> dict:
    done = await temporal("workflow", "query", "-w", workflow_id, "--type", query, "-o", "json", address=address)
    return json.loads(done.stdout)["queryResult"][0]
