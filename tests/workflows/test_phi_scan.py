"""The Temporal server never holds patient data in the clear: one patient-risk run, then the server's
own SQLite file and `temporal workflow show` are searched for seeded patient values.

The same scan over a run with encryption off must find them, or the scan proves nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from activities.deps import ActivityDeps
from mlwright.client import client_options
from mlwright.contracts.patient_risk import PatientRiskInput, PatientRiskResult
from mlwright.patient_risk import bootstrap, synthetic
from tests.codec_helpers import shared_codec_server
from tests.conftest import DEV_SERVER_ARGS, running_workers, target_of
from tests.helpers import venv_bin
from tests.workflows.patient_risk_world import PATIENTS, RUN_DATE, start_services

pytestmark = pytest.mark.e2e


def seeded_values() -> set[str]:
    """Patient ids and raw lab values as they would appear in a JSON payload. The synthetic sources hold
    no names or dates of birth (age and sex only), so ids and labs are what can leak."""
    population = synthetic.generate(PATIENTS, 11, RUN_DATE)  # the seed start_services uses
    ids = set(population.patients["patient_id"].astype(str))
    labs = {repr(float(v)) for v in population.labs["value"].dropna()}
    # Short numbers ("8.029") turn up by chance in any binary file; seven characters do not.
    return ids | set(sorted(v for v in labs if len(v) >= 7)[:200])


@pytest_asyncio.fixture(scope="module")
async def hospital(tmp_path_factory):
    settings, _inbox, _dials, servers = start_services(tmp_path_factory.mktemp("phi"))
    settings = settings.model_copy(update={"task_queue_prefix": f"phi{uuid.uuid4().hex[:6]}-"})
    yield settings
    for server in servers:
        server.stop()


async def one_run(settings, db: Path, canary_values: set[str], *, train: bool) -> tuple[str, str]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_bin("temporal"), **client_options(settings),
        dev_server_extra_args=[*DEV_SERVER_ARGS, "--db-filename", str(db)])
    try:
        deps = ActivityDeps.from_settings(settings)
        async with running_workers(env.client, settings, deps) as queues:
            if train:  # models live in mlwright's store, so the second server reuses them
                await bootstrap.train_models(env.client, settings, patients=400, seed=5, run_date=RUN_DATE,
                                             say=lambda _line: None)
            inp = PatientRiskInput.model_validate({"run_date": RUN_DATE.isoformat()})
            wid = f"phi-scan-{uuid.uuid4()}"
            result = await env.client.execute_workflow("PatientRiskPipeline", inp, id=wid,
                                                       task_queue=queues.pipelines, result_type=PatientRiskResult)
            assert result.state == "completed" and result.patients == PATIENTS
        # The pipeline passes references, not rows, so its own payloads may hold no patient value at all;
        # this start carries seeded values as any payload might (a step result, an operator's input), so
        # the scan has something to find whenever payloads are stored in the clear.
        canary = await env.client.start_workflow("PhiCanary", {"patients": sorted(canary_values)},
                                                 id=f"phi-canary-{uuid.uuid4()}", task_queue="phi-nobody")
        await canary.terminate()
        return await show(wid, target_of(env.client)), await show(wid, target_of(env.client), decoded=True)
    finally:
        await env.shutdown()


async def show(wid: str, address: str, decoded: bool = False) -> str:
    codec = shared_codec_server().cli_args() if decoded else []
    proc = await asyncio.create_subprocess_exec(venv_bin("temporal"), "workflow", "show", "-w", wid, "--address",
                                                address, "--detailed", *codec, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    return out.decode()


def hits(values: set[str], *texts: bytes | str) -> set[str]:
    blob = b"\n".join(t if isinstance(t, bytes) else t.encode() for t in texts)
    return {v for v in values if v.encode() in blob}


def server_files(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))  # the file, its -wal and -shm


async def test_encrypted_run_leaves_no_patient_data_on_the_server_but_plaintext_does(hospital, tmp_path):
    values = seeded_values()
    sealed_db = tmp_path / "sealed" / "temporal.db"
    sealed_db.parent.mkdir()
    shown, decoded = await one_run(hospital, sealed_db, values, train=True)
    assert b"phi-scan-" in server_files(sealed_db)  # the history really is in the file scanned
    assert hits(values, server_files(sealed_db), shown) == set()
    assert "readmission-risk" in decoded and "readmission-risk" not in shown  # the codec server decodes it

    plain_db = tmp_path / "plain" / "temporal.db"
    plain_db.parent.mkdir()
    plain = hospital.model_copy(update={"payload_encryption": False,
                                        "task_queue_prefix": f"phip{uuid.uuid4().hex[:6]}-"})
    plain_shown, _ = await one_run(plain, plain_db, values, train=False)
    # Nearly all, not all: SQLite splits a large blob across overflow pages, cutting the odd value in two.
    assert len(hits(values, server_files(plain_db))) > 0.9 * len(values), "the scan cannot detect a leak"
