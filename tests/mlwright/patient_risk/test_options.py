"""Per-step options: one model per step, unknown steps/keys and wrong types refused by name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlwright.contracts import patient_risk as c
from mlwright.contracts.common import describe_validation_error
from mlwright.errors import InvalidInput
from mlwright.steps.patient_risk import BY_NAME, STEPS

RUN = c.RunRef(workflow_id="w", run_id="r", run_date="2026-11-27")


def refusal(options: dict) -> str:
    with pytest.raises(ValidationError) as e:
        c.PatientRiskInput.model_validate({"run_date": "2026-11-27", "options": options})
    return describe_validation_error(e.value)


@pytest.mark.parametrize(("options", "named"), [
    ({"write_fhir": {"batch_size": 0}}, "options.write_fhir.batch_size: Input should be greater than or equal to 1"),
    ({"write_fhir": {"batch_size": True}}, "options.write_fhir.batch_size: Input should be a valid integer"),
    ({"extract_pharmacy": {"page_size": 10_001}}, "options.extract_pharmacy.page_size: Input should be less than"),
    ({"validate_labs": {"max_invalid_ratio": "0.2"}}, "options.validate_labs.max_invalid_ratio: Input should be a "
                                                      "valid number"),
    ({"send_alerts": {"max_in_flight": 0}}, "options.send_alerts.max_in_flight"),
    ({"write_fhir": {"max_in_flight": 0}}, "options.write_fhir.max_in_flight: Input should be greater than or equal"),
    ({"write_fhir": {"max_in_flight": 17}}, "options.write_fhir.max_in_flight: Input should be less than or equal"),
    ({"model_acuity": {"anything": 1}}, "options.model_acuity.anything: Extra inputs are not permitted"),
    ({"lineage": {}}, "options.lineage: Extra inputs are not permitted"),
])
def test_bad_options_are_refused_naming_the_option(options, named):
    assert named in refusal(options)


def test_only_what_was_set_travels_to_the_steps():
    inp = c.PatientRiskInput.model_validate({"run_date": "2026-11-27", "options": {
        "validate_labs": {"max_invalid_ratio": 0.2}, "model_readmission": {}}})
    assert inp.options.overrides() == {"validate_labs": {"max_invalid_ratio": 0.2}, "model_readmission": {}}


def test_every_catalog_step_has_an_options_model_with_its_defaults():
    assert [s.name for s in STEPS] == list(c.PipelineOptions.model_fields)
    assert BY_NAME["write_fhir"].options().batch_size == 500
    assert BY_NAME["validate_labs"].options_of(c.StepInput(run=RUN)).max_staleness_days == 2


def test_a_step_refuses_options_that_reach_it_unchecked_naming_the_option():
    # An activity input recorded before options were typed still decodes; the step then names the bad option.
    stale = c.StepInput(run=RUN, options={"batch_size": 0})
    with pytest.raises(InvalidInput, match=r"options\.write_fhir\.batch_size: Input should be greater"):
        BY_NAME["write_fhir"].options_of(stale)


def test_retry_overrides_are_checked_merged_with_the_runs_options():
    assert c.check_step_options("write_fhir", {"batch_size": 10}).batch_size == 10
    with pytest.raises(ValueError, match=r"^options\.write_fhir\.batch_size: Input should be greater"):
        c.check_step_options("write_fhir", {"batch_size": -1})
