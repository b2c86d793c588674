"""`mlwright monitor ...` through the real command against the dev server, workers in this process."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
import uuid

import pytest

from mlwright.contracts.training import TrainingInput
from mlwright.patient_risk.bootstrap import retrain_body
from tests.conftest import running_workers, target_of

pytestmark = pytest.mark.e2e


async def mlwright(env: dict, *args: str) -> subprocess.CompletedProcess:
    # Asynchronous: the workers that answer the command's queries and updates run on this loop.
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "mlwright.cli", *args,
                                                env={**os.environ, **env}, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


async def command(settings, *args: str) -> subprocess.CompletedProcess:
    """The same command in this process (its handler on a thread, printing as `main` does): a fresh
    interpreter costs seconds of imports per call, so only a few calls below pay for one."""
    from mlwright.cli import _parser

    def run() -> subprocess.CompletedProcess:
        out = io.StringIO()
        parsed = _parser().parse_args(list(args))
        try:
            with contextlib.redirect_stdout(out):
                parsed.handler(parsed, settings)
        except RuntimeError as e:
            return subprocess.CompletedProcess(args, 1, out.getvalue(), f"mlwright: {e}\n")
        return subprocess.CompletedProcess(args, 0, out.getvalue(), "")

    return await asyncio.to_thread(run)


@pytest.fixture
def cli_env(dev_env, settings) -> dict:
    return {"MLWRIGHT_TEMPORAL_ADDRESS": target_of(dev_env.client), "MLWRIGHT_HOME": str(settings.home),
            "MLWRIGHT_TASK_QUEUE_PREFIX": settings.task_queue_prefix, "MLWRIGHT_ENVIRONMENT": "test"}


def refused(done: subprocess.CompletedProcess) -> str:
    """The one line a refused command prints (and that it failed)."""
    assert done.returncode == 1 and done.stdout == "", (done.returncode, done.stdout)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


async def test_start_trigger_pause_resume_status_and_their_refusals(dev_env, settings, deps, cli_env,
                                                                    breast_cancer_csv, tmp_path):
    model = f"bc{uuid.uuid4().hex[:8]}"
    wid = f"monitor-{model}"
    training = tmp_path / "retrain.json"
    training.write_text(json.dumps({"model_name": model, "dataset": {"uri": str(breast_cancer_csv),
                                                                     "target": "target"}}))
    here = settings.model_copy(update={"temporal_address": cli_env["MLWRIGHT_TEMPORAL_ADDRESS"]})
    async with running_workers(dev_env.client, settings, deps):
        assert refused(await mlwright(cli_env, "monitor", "status", model)) == (
            f"mlwright: no monitor for '{model}' (no workflow {wid})")

        started = await mlwright(cli_env, "monitor", "start", model, "--interval", "10h", "--training",
                                 f"@{training}", "--drift-from-cycle", "2", "--min-roc-auc", "0.6")
        assert started.returncode == 0, started.stderr
        assert started.stdout.startswith(f"started {wid}: a cycle every 10h")
        assert refused(await command(here, "monitor", "start", model, "--training", f"@{training}")) == (
            f"mlwright: {wid} is already running: see `mlwright monitor status {model}`")

        first = await command(here, "monitor", "trigger", model, "--reason", "drill")
        assert first.returncode == 0, first.stderr
        row = next(line.split() for line in first.stdout.splitlines() if line.strip().startswith("1 "))
        assert row[-2:] == ["trigger_now:", "drill"] and row[-3] == "too_few_outcomes"

        paused = await command(here, "monitor", "pause", model, "--operator", "ops", "--reason", "maint")
        assert paused.returncode == 0 and paused.stdout.startswith(f"{wid}  PAUSED, cycle 1, run 1")
        assert "next cycle   - (paused)" in paused.stdout
        assert refused(await command(here, "monitor", "pause", model)) == (
            f"mlwright: {wid} refused pause: already paused")
        resumed = await command(here, "monitor", "resume", model)
        assert resumed.returncode == 0 and resumed.stdout.startswith(f"{wid}  running, cycle 1")

        drifted = await command(here, "monitor", "trigger", model, "--reason", "drift")
        assert drifted.returncode == 0, drifted.stderr
        assert f"child        {wid}/retrain-2 (cycle 2, started " in drifted.stdout
        assert "thresholds   degraded when roc_auc < 0.6," in drifted.stdout

        status = await mlwright(cli_env, "monitor", "status", model)
        assert status.returncode == 0, status.stderr
        lines = status.stdout.splitlines()
        assert lines[0] == f"{wid}  running, cycle 2, run 1" and lines[1].startswith("next cycle   ")
        assert [line.split()[0] for line in lines if line.startswith("  ") and line.split()[0].isdigit()] == [
            "1", "2"]
        answer = json.loads((await command(here, "monitor", "status", model, "--json")).stdout)
        assert answer["child"]["workflow_id"] == f"{wid}/retrain-2" and answer["recent"][-1]["action"] == "retrain"

        await dev_env.client.get_workflow_handle(f"{wid}/retrain-2").terminate("test over")
        await dev_env.client.get_workflow_handle(wid).terminate("test over")
        assert refused(await command(here, "monitor", "trigger", model, "--reason", "late")) == (
            f"mlwright: {wid} has ended: start it again with `mlwright monitor start {model}`")


def test_the_patient_risk_models_have_a_default_retrain():
    for name in ("readmission-risk", "deterioration-risk", "acuity-risk"):
        body = retrain_body(name)
        assert TrainingInput.model_validate(body).dataset.path == f"training/{name}.parquet"
    assert retrain_body("wine") is None


@pytest.mark.parametrize(("args", "says"), [
    (["--interval", "soon", "--training", '{"model_name": "m", "dataset": {"uri": "a.csv", "target": "y"}}'],
     "monitor not started: interval"),
    (["--training", '{"model_name": "m"}'], "monitor not started: training"),
    (["--training", "{not json"], "--training is not JSON"),
    ([], "--training is required for 'wine'"),
])
def test_a_bad_start_is_refused_before_anything_is_sent(settings, args, says):
    # Sync: these are refused before the command connects (no server is given).
    from mlwright.cli import _parser

    parsed = _parser().parse_args(["monitor", "start", "wine", *args])
    with pytest.raises(RuntimeError) as raised:
        parsed.handler(parsed, settings)
    assert str(raised.value).startswith(says)
