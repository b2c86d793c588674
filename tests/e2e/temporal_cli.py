"""Driving the real `temporal` CLI binary from tests."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
from collections.abc import Callable

from tests.codec_helpers import shared_codec_server
from tests.helpers import venv_bin


async def temporal(*args: str, address: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = await asyncio.create_subprocess_exec(
        venv_bin("temporal"), *args, "--address", address, *shared_codec_server().cli_args(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    done = subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())
    if check and done.returncode != 0:
        raise AssertionError(f"temporal {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done


async def query_json(workflow_id: str, query: str, address: str) -> dict:
    done = await temporal("workflow", "query", "-w", workflow_id, "--type", query, "-o", "json", address=address)
    return json.loads(done.stdout)["queryResult"][0]


async def listed(address: str, query: str, condition: Callable[[list[dict]], bool],
                 timeout_s: float = 30) -> list[dict]:
    """`temporal workflow list --query` until ``condition`` holds: visibility is updated asynchronously."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        out = await temporal("workflow", "list", "--query", query, "-o", "json", address=address)
        runs = json.loads(out.stdout or "[]") or []
        if condition(runs):
            return runs
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{query!r} never matched; last answer {runs}")
        await asyncio.sleep(0.2)


def attributes(run: dict) -> dict:
    """Search attributes of a `workflow list -o json` row, decoded from their payloads."""
    fields = (run.get("searchAttributes") or {}).get("indexedFields") or {}
    return {name: json.loads(base64.b64decode(p["data"])) for name, p in fields.items()}


def failure_messages(node) -> list[str]:
    """Every failure message in a `workflow show -o json` history whose failures the codec server decoded."""
    found = []
    if isinstance(node, dict):
        attrs = node.get("encodedAttributes")
        if isinstance(attrs, dict) and "data" in attrs:
            found.append(json.loads(base64.b64decode(attrs["data"])).get("message", ""))
        for value in node.values():
            found += failure_messages(value)
    elif isinstance(node, list):
        for value in node:
            found += failure_messages(value)
    return found
