"""`mlwright report` as typed, against the dev server: runs started and ended from the `temporal` CLI."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta

from tests.conftest import target_of
from tests.e2e.temporal_cli import listed, temporal


async def test_report_cli_counts_a_terminated_run_and_writes_the_page(dev_env, tmp_path):
    address = target_of(dev_env.client)
    pipeline = f"ReportProbe{uuid.uuid4().hex[:8]}"  # a type of its own: other tests' runs stay out
    since = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    for n in range(2):
        await temporal("workflow", "start", "--type", pipeline, "--task-queue", f"{pipeline}-q",
                       "--workflow-id", f"{pipeline}-{n}", address=address)
    await temporal("workflow", "terminate", "-w", f"{pipeline}-0", "--reason", "drill", address=address)
    await listed(address, f'WorkflowType = "{pipeline}" AND ExecutionStatus = "Terminated"', lambda r: len(r) == 1)
    await listed(address, f'WorkflowType = "{pipeline}"', lambda r: len(r) == 2)

    env = {**os.environ, "MLWRIGHT_TEMPORAL_ADDRESS": address, "MLWRIGHT_HOME": str(tmp_path / "home")}
    page = tmp_path / "report.html"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mlwright.cli", "report", "--since", since, "--pipeline", pipeline, "--json",
        "--html", str(page), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    (figures,) = json.loads(out)["pipelines"]
    assert (figures["pipeline"], figures["runs"], figures["finished"], figures["success_rate"]) == (pipeline, 2, 1, 0.0)
    assert figures["trend"][0]["status"] == "terminated" and 'data-chart="success-rate"' in page.read_text()
    for n in range(2):
        await temporal("workflow", "terminate", "-w", f"{pipeline}-{n}", "--reason", "cleanup", address=address,
                       check=False)

    bad = await asyncio.create_subprocess_exec(sys.executable, "-m", "mlwright.cli", "report", "--window", "7 days",
                                               env=env, stderr=asyncio.subprocess.PIPE)
    _, err = await bad.communicate()
    assert bad.returncode == 2 and "--window: '7 days' is not N followed by h or d" in err.decode()
