"""A run started before step options were typed keeps replaying, whatever options it was given."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from mlwright.client import client_options
from workers.definitions import WORKFLOWS

RECORDED = Path(__file__).parent / "histories" / "v1-patientrisk-completed.json"


def with_start_input(history: dict, payload: dict) -> WorkflowHistory:
    # Options reach only the steps' inputs, so the v1 run with these options took the same commands.
    started = history["events"][0]["workflowExecutionStartedEventAttributes"]
    started["input"]["payloads"][0]["data"] = base64.b64encode(json.dumps(payload).encode()).decode()
    return WorkflowHistory.from_json("v1-untyped-options", json.dumps(history))


@pytest.mark.parametrize("options", [{"validate_labs": {"max_invalid_ratio": "lots", "retired_key": 1}},
                                     {"write_fhir": {"batch_size": 0}}, {"no_such_step": {}}])
async def test_a_v1_run_with_options_now_refused_still_replays(options):
    history = with_start_input(json.loads(RECORDED.read_text()), {"run_date": "2026-11-27", "options": options})
    replayer = Replayer(workflows=WORKFLOWS, data_converter=client_options()["data_converter"])
    await replayer.replay_workflow(history)
