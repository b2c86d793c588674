"""Every recorded history must replay on the current workflow code.

A failure here means the change would break runs that are in flight in production (for
example one waiting 72 hours for approval): guard the change with ``workflow.patched`` or
version the workflow instead of deleting the history.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from mlwright.client import client_options
from tests.replay.incompatible import ReorderedTrainingPipeline
from workers.definitions import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def replayer(workflows: list[type]) -> Replayer:
    return Replayer(workflows=workflows, data_converter=client_options()["data_converter"])


def test_every_workflow_has_recorded_histories():
    recorded = {path.name.split("-")[1] for path in HISTORIES}
    # v1-training-promoted.json is a TrainingPipeline history: the file prefix drops "Pipeline".
    expected = {w.__name__.lower().removesuffix("pipeline") for w in WORKFLOWS}
    missing = expected - recorded
    assert not missing, f"record histories for {sorted(missing)}: python -m tests.replay.record_histories"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays_on_current_code(path):
    await replayer(WORKFLOWS).replay_workflow(load(path))


async def test_replay_catches_an_incompatible_change():
    promoted = next(p for p in HISTORIES if "promoted" in p.name)
    with pytest.raises(NondeterminismError):
        await replayer([ReorderedTrainingPipeline]).replay_workflow(load(promoted))
