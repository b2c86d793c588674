"""Data-quality gate run before features are built."""

from __future__ import annotations

import pandas as pd

from mlwright.contracts.training import QualitySpec
from mlwright.contracts.training_steps import QualityCheck
from mlwright.ml.features import infer_task


def check_quality(frame: pd.DataFrame, target: str, task: str | None, spec: QualitySpec) -> list[QualityCheck]:
    checks = [QualityCheck(name="min_rows", passed=len(frame) >= spec.min_rows, value=len(frame),
                           threshold=spec.min_rows)]
    for column in [*spec.required_columns, target]:
        present = column in frame.columns
        checks.append(QualityCheck(name="column_present", column=column, passed=present,
                                   detail="" if present else "missing from the dataset"))
    for column in frame.columns:
        ratio = float(frame[column].isna().mean()) if len(frame) else 0.0
        checks.append(QualityCheck(name="null_ratio", column=str(column), passed=ratio <= spec.max_null_ratio,
                                   value=round(ratio, 6), threshold=spec.max_null_ratio))
    if target in frame.columns:
        checks.extend(_target_checks(frame[target].dropna(), target, task, spec))
    return checks


def _target_checks(y: pd.Series, target: str, task: str | None, spec: QualitySpec) -> list[QualityCheck]:
    distinct = int(y.nunique())
    checks = [QualityCheck(name="target_not_constant", column=target, passed=distinct > 1, value=distinct,
                           threshold=2, detail="" if distinct > 1 else "the target has a single value")]
    if distinct > 1 and (task or infer_task(y)) == "classification":
        counts = y.value_counts()
        rarest = float(counts.min() / len(y))
        # Counts only, never the class itself: a bad target (say a patient id) would put patient
        # data into the workflow history, the stored report and the page.
        checks.append(QualityCheck(
            name="class_balance", column=target, passed=rarest >= spec.min_class_ratio, value=round(rarest, 6),
            threshold=spec.min_class_ratio,
            detail=f"{len(counts)} classes; the rarest holds {int(counts.min())} of {len(y)} rows",
        ))
    return checks


def first_failure(checks: list[QualityCheck]) -> QualityCheck | None:
    return next((c for c in checks if not c.passed), None)


def describe(check: QualityCheck) -> str:
    where = f" on column {check.column!r}" if check.column else ""
    measured = f": {check.value} against threshold {check.threshold}" if check.value is not None else ""
    extra = f" ({check.detail})" if check.detail else ""
    return f"quality check {check.name!r} failed{where}{measured}{extra}"
