"""A TrainingPipeline over patient data keeps every cell value out of its workflow history.

Issue 6, item 8: with a bad target (the patient id) the quality gate's failure quoted the rarest
class, a patient id, and a passing run's quality report named the rarest sex. The history holds
every activity's input, result and failure: it is scanned, payloads decoded, for the seeded values.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from google.protobuf.json_format import MessageToDict, ParseDict
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowFailureError, WorkflowHandle

from mlwright.client import client_options
from mlwright.patient_risk import synthetic
from tests.conftest import running_workers
from tests.workflows.test_training_pipeline import start, training_input

CODEC = client_options()["data_converter"].payload_codec  # payloads are sealed: open them as a reader would


def decoded_strings(node: object) -> list[str]:
    """Every string in a history event, with payload bodies decrypted so their JSON is searchable."""
    if isinstance(node, dict):
        if "metadata" in node and "data" in node:
            payload = CODEC.open(ParseDict(node, Payload())) if CODEC else ParseDict(node, Payload())
            return [payload.data.decode("utf-8", "replace"),
                    *(v.decode("utf-8", "replace") for v in payload.metadata.values())]
        return [s for value in node.values() for s in decoded_strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in decoded_strings(value)]
    return [node] if isinstance(node, str) else []


async def history_text(handle: WorkflowHandle) -> str:
    return "\n".join([s async for event in handle.fetch_history_events() for s in decoded_strings(MessageToDict(event))])


@pytest.fixture
def ehr_patients(settings):
    patients = synthetic.generate(200, 11, date(2026, 11, 27)).patients
    path = settings.resolved_data_roots["local"] / "patients.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    patients.to_csv(path, index=False)
    return path, patients


@pytest.mark.parametrize(
    ("target", "overrides", "failure"),
    [
        # A patient id as target: every class is one patient; the quality gate fails on balance.
        ("patient_id", {}, "quality check 'class_balance' failed on column 'patient_id'"),
        # sex as target passes the gate (its report goes into the history), then fails on the estimator.
        ("sex", {"estimator": {"name": "linear_regression"}}, "does not support task 'classification'"),
    ],
)
async def test_bad_target_history_holds_no_patient_values(dev_env, settings, deps, ehr_patients, target,
                                                          overrides, failure):
    path, patients = ehr_patients
    inp = training_input(path, **{"dataset": {"uri": str(path), "target": target}, **overrides})
    async with running_workers(dev_env.client, settings, deps) as queues:
        handle = await start(dev_env.client, queues, inp)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    text = await history_text(handle)

    assert failure in text
    assert "class_balance" in text, "the quality report should be in the history (else the scan proves nothing)"
    leaked_ids = [pid for pid in patients.patient_id if pid in text]
    assert leaked_ids == [], f"{len(leaked_ids)} patient ids in the history, e.g. {leaked_ids[:3]}"
    for sex in patients.sex.unique():  # single letters: look for them as quoted values
        for quoted in (repr(sex), json.dumps(sex), f"\\'{sex}\\'"):
            assert quoted not in text, f"sex value {quoted} in the history"
