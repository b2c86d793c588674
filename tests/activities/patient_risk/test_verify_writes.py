"""verify_writes against a real FHIR endpoint on loopback: the server's own (count, checksum) where
it offers `$checksum`, the page-by-page read-back where it does not, the same report either way,
and a changed resource caught by both."""

from __future__ import annotations

import threading

import httpx
import numpy as np
import pandas as pd
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.patient_risk.delivery import DeliveryActivities
from activities.patient_risk.deps import PatientRiskDeps
from mlwright.contracts import patient_risk as c
from mlwright.patient_risk import fhir as resources
from mlwright.services import fhir
from mlwright.services.http import JsonServer

DAY = "2026-11-27"
N = 1_234  # several bundles and several search pages


class Counting:
    """The dev FHIR store, optionally without the `$checksum` operation, counting what is asked."""

    def __init__(self, store: fhir.FhirStore, offers_checksum: bool) -> None:
        self.store, self.offers_checksum, self.paths = store, offers_checksum, []

    def handle(self, method, path, query, body):
        self.paths.append(path)
        if path.endswith("/$checksum") and not self.offers_checksum:
            return 404, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-supported"}]}
        return self.store.handle(method, path, query, body)


@pytest.fixture(params=[True, False], ids=["server checksum", "read back"])
def world(request, settings, deps, tmp_path, monkeypatch):
    monkeypatch.setattr("activities.patient_risk.delivery.SEARCH_PAGE", 500)
    service = Counting(fhir.FhirStore(tmp_path / "fhir.db"), offers_checksum=request.param)
    with JsonServer(service.handle, max_body=fhir.MAX_BODY) as server:
        s = settings.model_copy(update={"fhir_url": f"{server.url}/fhir"})
        yield DeliveryActivities(PatientRiskDeps.build(deps, s)), service, s


def risk_input(deps) -> c.RiskInput:
    rng = np.random.default_rng(3)
    scores = rng.random((N, 3))
    frame = pd.DataFrame({"patient_id": [f"P{i:07d}" for i in range(N)], "readmission": scores[:, 0],
                          "deterioration": scores[:, 1], "acuity": scores[:, 2], "score": scores.mean(axis=1),
                          "tier": np.where(scores[:, 0] > 0.7, "high", "low"), "rules": ""})
    ref = deps.artifacts.put_frame(frame)
    risk = c.RiskTable(data=ref, model_versions={"readmission-risk": 1}, tiers={}, overrides=0, overrides_ref=ref)
    return c.RiskInput(run=c.RunRef(workflow_id="wf", run_id="r", run_date=DAY), risk=risk,
                       options={"batch_size": 100, "max_in_flight": 3})


def test_both_ways_verify_the_same_and_only_the_fallback_reads_back(world, deps):
    steps, service, _ = world
    inp = risk_input(deps)
    env = ActivityEnvironment()
    care = env.run(steps.write_care_management, inp)
    written = env.run(steps.write_fhir, inp)
    report = env.run(steps.verify_writes, c.VerifyInput(run=inp.run, risk=inp.risk, writes=[care, written]))

    assert report.counts == {"care_management": N, "fhir": N}
    assert report.checksums == {"care_management": written.checksum, "fhir": written.checksum} \
        and written.checksum == care.checksum
    searches = [p for p in service.paths if p.endswith("/RiskAssessment")]
    assert len(searches) == (0 if service.offers_checksum else 3)  # 1,234 resources, 500 a page


def test_a_resource_changed_downstream_fails_verification_either_way(world, deps):
    steps, _, s = world
    inp = risk_input(deps)
    env = ActivityEnvironment()
    writes = [env.run(steps.write_care_management, inp), env.run(steps.write_fhir, inp)]
    rid = resources.resource_id(DAY, "P0000007")
    stored = httpx.get(f"{s.fhir_url}/RiskAssessment/{rid}").json()
    stored["extension"][0]["valueCode"] = "medium" if stored["extension"][0]["valueCode"] != "medium" else "low"
    assert httpx.post(s.fhir_url, json=resources.transaction([stored])).status_code == 200

    with pytest.raises(ApplicationError, match=r"Transient: writes disagree with the run \(1234 rows, checksum "
                                               r"\w+\): \{'fhir': '1234 rows, checksum \w+'\}$"):
        env.run(steps.verify_writes, c.VerifyInput(run=inp.run, risk=inp.risk, writes=writes))


def test_a_failing_care_side_does_not_wait_for_the_fhir_checksum(settings, deps, tmp_path):
    """The server's answer is held until the test lets it go: the attempt's error must come back
    while that request is still open, not once the FHIR server answers (or the read timeout)."""
    asked, release = threading.Event(), threading.Event()
    store = fhir.FhirStore(tmp_path / "fhir.db")

    def handle(method, path, query, body):
        if path.endswith("/$checksum"):
            asked.set()
            release.wait(60)
        return store.handle(method, path, query, body)

    inp = risk_input(deps)
    data = inp.risk.data
    tampered = inp.risk.model_copy(update={"data": data.model_copy(update={
        "artifact": data.artifact.model_copy(update={"sha256": "0" * 64})})})
    errors: list[BaseException] = []

    def verify(steps: DeliveryActivities) -> None:
        try:
            ActivityEnvironment().run(steps.verify_writes, c.VerifyInput(run=inp.run, risk=tampered, writes=[]))
        except Exception as e:  # noqa: BLE001 - handed to the test's thread
            errors.append(e)

    with JsonServer(handle, max_body=fhir.MAX_BODY) as server:
        s = settings.model_copy(update={"fhir_url": f"{server.url}/fhir"})
        attempt = threading.Thread(target=verify, args=(DeliveryActivities(PatientRiskDeps.build(deps, s)),))
        try:
            attempt.start()
            assert asked.wait(10), "the FHIR checksum was never asked for"
            attempt.join(10)
            returned_while_held = not attempt.is_alive()
        finally:
            release.set()
            attempt.join()
    assert returned_while_held, "verify_writes waited for the FHIR server after the care side had failed"
    assert [getattr(e, "type", None) for e in errors] == ["ArtifactIntegrityError"], errors
