from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from mlwright.contracts.common import describe_validation_error
from mlwright.contracts.refs import ArtifactRef, DatasetRef
from mlwright.contracts.training import TrainingInput

MINIMAL = {"model_name": "churn", "dataset": {"uri": "data.csv", "target": "churned"}}


def errors_of(body: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        TrainingInput.model_validate(body)
    return describe_validation_error(caught.value)


def test_minimal_input_gets_documented_defaults_and_round_trips_as_json():
    inp = TrainingInput.model_validate(MINIMAL)
    assert inp.estimator.name == "random_forest" and inp.split.test_size == 0.2
    assert inp.promotion.approval_timeout == timedelta(hours=72)
    assert TrainingInput.model_validate_json(inp.model_dump_json()) == inp


@pytest.mark.parametrize(("text", "expected"), [("90s", 90), ("10m", 600), ("72h", 259200), ("2d", 172800),
                                                ("250ms", 0.25), ("PT1H", 3600), (30, 30)])
def test_durations_accept_human_units(text, expected):
    inp = TrainingInput.model_validate({**MINIMAL, "promotion": {"canary_duration": text}})
    assert inp.promotion.canary_duration.total_seconds() == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model_name": "churn"}, "dataset: Field required"),
        ({**MINIMAL, "model_name": "Churn Model"}, "model_name: String should match pattern"),
        ({**MINIMAL, "estimater": {}}, "estimater: Extra inputs are not permitted"),
        ({**MINIMAL, "estimator": {"name": "svm"}}, "estimator.name: Value error, unknown estimator 'svm'"),
        ({**MINIMAL, "task": "regression", "estimator": {"name": "logistic_regression"}},
         "does not support task 'regression'"),
        ({**MINIMAL, "task": "regression", "promotion": {"metric": "f1"}}, "promotion.metric 'f1' is not a regression"),
        ({**MINIMAL, "split": {"test_size": 1.5}}, "split.test_size: Input should be less than 1"),
        ({**MINIMAL, "promotion": {"approval_timeout": "-5m"}}, "promotion.approval_timeout"),
        ({**MINIMAL, "dataset": {"uri": "postgresql://db/x", "target": "y"}}, "dataset.query is required"),
    ],
)
def test_bad_input_is_named_by_field(body, message):
    assert message in errors_of(body)


def test_references_stay_small_enough_for_payloads():
    ref = DatasetRef(artifact=ArtifactRef(uri="file:///" + "x" * 200, sha256="a" * 64, size_bytes=10**9),
                     rows=10**7, columns=[f"feature_{i}" for i in range(60)])
    assert len(ref.model_dump_json()) < 2048


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_out_of_range_seed_is_blamed_on_split_seed(seed):
    problems = errors_of({**MINIMAL, "split": {"seed": seed}})
    assert problems.startswith("split.seed: Input should be") and "test_size" not in problems

