"""The 23 steps of the PatientRiskPipeline, numbered as the runbook and the progress query show them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError
from temporalio import activity

from mlwright import policies
from mlwright.contracts import patient_risk as c
from mlwright.errors import InvalidInput
from mlwright.queues import Resource
from mlwright.steps import Step

F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class PipelineStep:
    number: int
    step: Step
    skippable: bool = False  # nothing downstream needs its output, so an operator may skip it

    @property
    def name(self) -> str:
        return self.step.name

    @property
    def options(self) -> type[c.StepOptions]:
        """This step's options model: what `options.<step>` may hold at start and in `retry_step`."""
        return c.options_model(self.name)

    def options_of(self, inp: c.StepInput) -> c.StepOptions:
        """The options an activity received, typed. They were checked at start; a payload from an older
        run that does not validate is refused here, naming the option, instead of failing mid-step."""
        try:
            return self.options.model_validate(inp.options)
        except ValidationError as e:
            first = e.errors()[0]
            raise InvalidInput(f"options.{self.name}.{'.'.join(str(p) for p in first['loc'])}", first["msg"]) from None

    def defn(self, fn: F) -> F:
        """``Step.defn``, and the result records which attempt produced it, so `progress` can report the
        true attempt count of a step that succeeded after retries."""

        @functools.wraps(fn)
        def stamped(*args, **kwargs):
            result = fn(*args, **kwargs)
            return result.model_copy(update={"attempt": activity.info().attempt})

        return self.step.defn(stamped)  # type: ignore[return-value]


def _s(number, name, title, inp, out, resource, policy, skippable=False) -> PipelineStep:
    return PipelineStep(number, Step(name, title, inp, out, resource, policy), skippable)


IO, CPU = Resource.IO, Resource.CPU
READ, WRITE, COMPUTE = policies.IO_READ, policies.STORE_WRITE, policies.COMPUTE

STEPS: tuple[PipelineStep, ...] = (
    _s(1, "extract_ehr", "Extract EHR", c.StepInput, c.SourceSnapshot, IO, READ),
    _s(2, "extract_labs", "Extract labs", c.StepInput, c.SourceSnapshot, IO, READ),
    _s(3, "extract_claims", "Extract claims", c.StepInput, c.SourceSnapshot, IO, READ),
    _s(4, "extract_pharmacy", "Extract pharmacy", c.StepInput, c.SourceSnapshot, IO, READ),
    _s(5, "validate_ehr", "Validate EHR", c.ValidateSourceInput, c.ValidatedSource, CPU, COMPUTE),
    _s(6, "validate_labs", "Validate labs", c.ValidateSourceInput, c.ValidatedSource, CPU, COMPUTE),
    _s(7, "validate_claims", "Validate claims", c.ValidateSourceInput, c.ValidatedSource, CPU, COMPUTE),
    _s(8, "validate_pharmacy", "Validate pharmacy", c.ValidateSourceInput, c.ValidatedSource, CPU, COMPUTE),
    _s(9, "merge_by_patient", "Merge by patient", c.MergeInput, c.MergedSet, CPU, COMPUTE),
    _s(10, "quality_gate", "Data-quality gate", c.MergedInput, c.GateReport, CPU, COMPUTE),
    _s(11, "compute_features", "Compute 47 features", c.ComputeFeaturesInput, c.FeatureTable, CPU, COMPUTE),
    _s(12, "validate_features", "Validate features", c.FeaturesStepInput, c.FeatureReport, CPU, COMPUTE, True),
    _s(13, "model_readmission", "Model 1: readmission", c.ScoreInput, c.Predictions, CPU, COMPUTE),
    _s(14, "model_deterioration", "Model 2: deterioration", c.ScoreInput, c.Predictions, CPU, COMPUTE),
    _s(15, "model_acuity", "Model 3: acuity", c.ScoreInput, c.Predictions, CPU, COMPUTE),
    _s(16, "apply_business_rules", "Apply business rules", c.RulesInput, c.RiskTable, CPU, COMPUTE),
    _s(17, "validate_predictions", "Validate predictions", c.RiskInput, c.PredictionReport, CPU, COMPUTE),
    _s(18, "write_care_management", "Write care-management DB", c.RiskInput, c.WriteResult, IO, READ),
    _s(19, "write_fhir", "Write FHIR RiskAssessments", c.RiskInput, c.WriteResult, IO, READ),
    _s(20, "verify_writes", "Verify both writes", c.VerifyInput, c.VerifyReport, IO, READ),
    _s(21, "send_alerts", "Alert on high-risk patients", c.RiskInput, c.AlertsResult, IO, READ),
    _s(22, "record_lineage", "Record lineage", c.LineageInput, c.Recorded, IO, WRITE, True),
    _s(23, "publish_run_metrics", "Publish run metrics", c.MetricsInput, c.Recorded, IO, WRITE, True),
)
BY_NAME = {s.name: s for s in STEPS}

# Not one of the 23: how a failed step reaches the on-call engineer.
OPERATOR_ALERT = Step("send_operator_alert", "Alert on-call", c.OperatorAlertInput, c.AlertsResult, IO,
                      policies.STORE_WRITE)

ALL: tuple[Step, ...] = (*(s.step for s in STEPS), OPERATOR_ALERT)
assert len(STEPS) == 23 and [s.number for s in STEPS] == list(range(1, 24))
assert list(BY_NAME) == list(c.PipelineOptions.model_fields), "every step has exactly one options model"
