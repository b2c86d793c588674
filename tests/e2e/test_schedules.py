"""`mlwright schedules apply/list` against the dev server, through the real command."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import ScheduleOverlapPolicy

from mlwright import schedule_file, schedules
from mlwright.queues import QueueSet
from tests.conftest import target_of

pytestmark = pytest.mark.e2e


def mlwright(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlwright.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)


def schedule_toml(sid: str, *, overlap: str = "skip", extra: str = "") -> str:
    return f'''
[[schedule]]
id = "{sid}-features"
workflow = "FeaturePipeline"
cron = ["0 3 1 1 *"]
overlap = "{overlap}"
catchup_window = "2h"
jitter = "30s"
pause_on_failure = true
note = "test"
{extra}
[[schedule]]
id = "{sid}-risk"
workflow = "PatientRiskPipeline"
every = "7d"
input = {{ run_date = "2026-11-27" }}

[[dependency]]
upstream = "FeaturePipeline"
downstream = "PatientRiskPipeline"
'''


async def scheduled_runs(client, schedule_id: str, timeout_s: float = 20) -> list:
    """The runs a schedule started, once visibility lists at least one."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        runs = [w async for w in client.list_workflows(f'TemporalScheduledById = "{schedule_id}"')]
        if runs or asyncio.get_running_loop().time() > deadline:
            assert runs, f"{schedule_id} started nothing within {timeout_s}s"
            return runs
        await asyncio.sleep(0.2)  # polling visibility, which is eventually consistent


@pytest.fixture
def cli_env(dev_env, settings) -> dict:
    return {"MLWRIGHT_TEMPORAL_ADDRESS": target_of(dev_env.client), "MLWRIGHT_HOME": str(settings.home),
            "MLWRIGHT_TASK_QUEUE_PREFIX": settings.task_queue_prefix}


async def test_apply_creates_then_is_unchanged_then_updates_and_list_shows_them(
        dev_env, settings, cli_env, tmp_path: Path):
    client, queues, sid = dev_env.client, QueueSet(settings.task_queue_prefix), f"s{uuid.uuid4().hex[:8]}"
    path = tmp_path / "schedules.toml"
    path.write_text(schedule_toml(sid))
    try:
        first = mlwright(cli_env, "schedules", "apply", str(path))
        assert first.returncode == 0, first.stderr
        assert first.stdout.splitlines() == [f"schedule {sid}-features: created", f"schedule {sid}-risk: created",
                                             "dependency FeaturePipeline -> PatientRiskPipeline: created"]
        desc = await client.get_schedule_handle(f"{sid}-features").describe()
        assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert desc.schedule.policy.catchup_window == timedelta(hours=2)
        assert desc.schedule.policy.pause_on_failure is True
        assert desc.schedule.spec.jitter == timedelta(seconds=30)
        assert desc.schedule.action.task_queue == queues.pipelines
        assert desc.schedule.action.workflow == "FeaturePipeline"
        risk = await client.get_schedule_handle(f"{sid}-risk").describe()
        assert risk.schedule.spec.intervals[0].every == timedelta(days=7)
        await client.get_schedule_handle(f"{sid}-risk").trigger()  # the action is runnable as applied
        started = await scheduled_runs(client, f"{sid}-risk")
        assert started[0].task_queue == queues.pipelines and started[0].workflow_type == "PatientRiskPipeline"
        assert started[0].id.startswith(f"{sid}-risk-")
        await client.get_workflow_handle(started[0].id).terminate("test: no worker serves it")

        again = mlwright(cli_env, "schedules", "apply", str(path))
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines() == [f"schedule {sid}-features: unchanged", f"schedule {sid}-risk: unchanged",
                                             "dependency FeaturePipeline -> PatientRiskPipeline: unchanged"]
        untouched = await client.get_schedule_handle(f"{sid}-features").describe()
        assert untouched.info.last_updated_at == desc.info.last_updated_at  # no update was sent

        await client.get_schedule_handle(f"{sid}-features").pause(note="operator: source outage")
        path.write_text(schedule_toml(sid, overlap="buffer_one"))
        changed = mlwright(cli_env, "schedules", "apply", str(path))
        assert changed.stdout.splitlines()[:2] == [f"schedule {sid}-features: updated", f"schedule {sid}-risk: unchanged"]
        desc = await client.get_schedule_handle(f"{sid}-features").describe()
        assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.BUFFER_ONE
        assert desc.schedule.state.paused  # the file says what runs when; the operator's pause stays
        assert desc.schedule.state.note == "operator: source outage"

        listed = mlwright(cli_env, "schedules", "list")
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[0].split()[:3] == ["ID", "WORKFLOW", "WHEN"]
        assert [line.split()[:2] for line in lines[1:3]] == [[f"{sid}-features", "FeaturePipeline"],
                                                              [f"{sid}-risk", "PatientRiskPipeline"]]
        assert "0 3 1 1 *" in lines[1] and "buffer_one" in lines[1]
        assert "FeaturePipeline -> PatientRiskPipeline" in listed.stdout

        by_hand = f"{sid}-by-hand"  # not mlwright's: --prune leaves it alone
        await client.create_schedule(by_hand, schedules.build(
            schedule_file.ScheduleSpec(id=by_hand, workflow="FeaturePipeline", every="1d"), queues))
        path.write_text(schedule_toml(sid).split("[[schedule]]\nid = \"" + sid + "-risk")[0])
        pruned = mlwright(cli_env, "schedules", "apply", "--prune", str(path))
        assert pruned.returncode == 0, pruned.stderr
        assert pruned.stdout.splitlines() == [f"schedule {sid}-features: updated",
                                              "dependency FeaturePipeline -> PatientRiskPipeline: deleted",
                                              f"schedule {sid}-risk: deleted"]
        assert await schedules.managed_ids(client, queues) == [f"{sid}-features"]
        await client.get_schedule_handle(by_hand).describe()  # still there
        await client.get_schedule_handle(by_hand).delete()
    finally:
        for schedule_id in await schedules.managed_ids(client, queues):
            await client.get_schedule_handle(schedule_id).delete()


@pytest.mark.parametrize(("extra", "named"), [
    ('overlapp = "skip"', "schedule.0.overlapp: Extra inputs are not permitted"),
    ('jitter_s = 3', "schedule.0.jitter_s"),
])
async def test_a_bad_file_is_refused_naming_the_field_and_nothing_is_applied(
        dev_env, settings, cli_env, tmp_path: Path, extra: str, named: str):
    sid = f"s{uuid.uuid4().hex[:8]}"
    path = tmp_path / "schedules.toml"
    # The error is in the first schedule; the second (valid) one is not applied either.
    path.write_text(schedule_toml(sid, extra=extra))
    out = mlwright(cli_env, "schedules", "apply", str(path))
    assert out.returncode == 1
    assert "nothing applied" in out.stderr and named in out.stderr, out.stderr
    assert await schedules.managed_ids(dev_env.client, QueueSet(settings.task_queue_prefix)) == []


@pytest.mark.parametrize(("body", "named"), [
    ('[[schedule]]\nid = "x"\nworkflow = "PatientRiskPipeline"\nevery = "1d"\ninput = { run_date = "27.11.2026" }',
     "schedule.0.input (x).run_date"),
    ('[[schedule]]\nid = "x"\nworkflow = "FeaturePipeline"\ncron = ["61 * *"]', "schedule.0.cron"),
    ('[[schedule]]\nid = "x"\nworkflow = "FeaturePipeline"', "give exactly one of cron or every"),
    ('[[schedule]]\nid = "x"\nworkflow = "FeaturePipeline"\nevery = "soon"', "schedule.0.every"),
    ('[[dependency]]\nupstream = "FeaturePipeline"\ndownstream = "PatientRiskPipeline"\ninput = { modles = {} }',
     "dependency.0.input (FeaturePipeline -> PatientRiskPipeline).modles"),
    ("[[schedule]\n", "not valid TOML"),
    ('[[schedule]]\nid = "x"\nworkflow = "FeaturePipeline"\nevery = "1d"\ntimezone = "Mars/Olympus"',
     "schedule.0.timezone"),
])
def test_validation_names_the_problem(tmp_path: Path, body: str, named: str):
    from mlwright import schedule_file

    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(schedule_file.ScheduleFileError) as e:
        schedule_file.load(path)
    assert named in str(e.value)


def test_the_shipped_example_is_valid():
    from mlwright import schedule_file

    parsed = schedule_file.load(Path(__file__).parents[2] / "deploy" / "schedules.example.toml")
    assert {s.workflow for s in parsed.schedule} == {"FeaturePipeline", "RetrainingMonitor"}
    assert [(d.upstream, d.downstream) for d in parsed.dependency] == [("FeaturePipeline", "PatientRiskPipeline")]
