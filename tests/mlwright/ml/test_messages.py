"""Data-quality and training errors describe columns and counts, never cell values (issue 6, item 8)."""

from __future__ import annotations

import pandas as pd
import pytest

from mlwright.contracts.training import QualitySpec
from mlwright.errors import InvalidInput
from mlwright.ml import quality, training
from mlwright.ml.redact import redact


def test_class_balance_names_counts_not_classes():
    frame = pd.DataFrame({"x": range(60), "sex": ["SEX-F"] * 58 + ["SEX-X"] * 2})
    failed = quality.first_failure(quality.check_quality(frame, "sex", None, QualitySpec()))
    message = quality.describe(failed)
    assert message == ("quality check 'class_balance' failed on column 'sex': 0.033333 against threshold 0.05 "
                       "(2 classes; the rarest holds 2 of 60 rows)")
    assert "SEX-" not in message


def test_a_library_error_quoting_a_value_is_redacted():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "sex": ["SEX-M"] * 4})
    model = training.make_pipeline(training.make_estimator("logistic_regression", "classification", {}, 1),
                                   numeric=["x"], categorical=[])
    with pytest.raises(InvalidInput) as failed:
        training.fit(model, frame, "sex")
    assert "only one class" in failed.value.message and "SEX-M" not in failed.value.message


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("could not convert string to float: 'P0000000'", "could not convert string to float: <value>"),
        ('invalid input syntax for type integer: "P0000001"', "invalid input syntax for type integer: <value>"),
        ("y contains previously unseen labels: [183.2 140.1]", "y contains previously unseen labels: <values>"),
        ("no such table: victim", "no such table: victim"),
    ],
)
def test_redact_keeps_the_problem_and_drops_the_values(message, shown):
    assert redact(message) == shown
