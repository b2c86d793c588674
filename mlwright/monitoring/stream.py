"""A synthetic prediction stream with late, date-stamped ground truth.

Cycle ``k`` scores ``rows_per_cycle`` patients (features like the synthetic patient-risk source:
age, BMI, systolic BP, HbA1c, sex) and stamps each prediction with the cycle's date; the true
outcome of those patients arrives ``outcome_delay_cycles`` later, stamped with its arrival date.
Everything is a pure function of (seed, cycle), so a retried step reads the same rows.

From ``drift_from_cycle`` on the population shifts (older, higher HbA1c; more of one sex) and the
outcome starts depending on a factor the model never saw, so both feature drift and a drop in
ROC AUC show, the drop lagging by the outcome delay as it would in a hospital.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from mlwright.contracts.monitor import StreamSpec

EPOCH = date(2026, 1, 1)
FEATURES = ["age", "bmi", "systolic_bp", "hba1c", "sex"]
_REFERENCE_CYCLE = 0


def _drifted(spec: StreamSpec, cycle: int) -> bool:
    return spec.drift_from_cycle is not None and cycle >= spec.drift_from_cycle


def _population(spec: StreamSpec, cycle: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng([spec.seed, cycle])
    n = spec.rows_per_cycle
    drift = _drifted(spec, cycle)
    frame = pd.DataFrame({
        "age": rng.normal(62 + (8 if drift else 0), 12, n),
        "bmi": rng.normal(28, 5, n),
        "systolic_bp": rng.normal(135, 18, n),
        "hba1c": rng.normal(6.2 + (1.0 if drift else 0), 1.0, n),
        "sex": rng.choice(["F", "M"], n, p=[0.3, 0.7] if drift else [0.5, 0.5]),
    })
    z = (frame["age"] - 62) / 12 * 0.9 + (frame["hba1c"] - 6.2) * 0.8 + (frame["systolic_bp"] - 135) / 18 * 0.5
    hidden = rng.normal(0, 1, n)
    logit = (0.15 * z + 2.5 * hidden) if drift else z
    truth = rng.random(n) < 1 / (1 + np.exp(-(logit.to_numpy() - 0.5)))
    return frame, truth


def _score(frame: pd.DataFrame) -> np.ndarray:
    """The deployed model's risk score: the relationship of the reference population."""
    z = (frame["age"] - 62) / 12 * 0.9 + (frame["hba1c"] - 6.2) * 0.8 + (frame["systolic_bp"] - 135) / 18 * 0.5
    return (1 / (1 + np.exp(-(z.to_numpy() - 0.5)))).round(4)


def cycle_date(cycle: int) -> date:
    return EPOCH + timedelta(days=cycle)


def reference(spec: StreamSpec) -> pd.DataFrame:
    """Features of the population the model was trained on."""
    frame, _ = _population(spec.model_copy(update={"drift_from_cycle": None}), _REFERENCE_CYCLE)
    return frame


def predictions(spec: StreamSpec, cycle: int) -> pd.DataFrame:
    """Predictions made in ``cycle``: features, score, predicted label, date stamp."""
    frame, _ = _population(spec, cycle)
    out = frame.copy()
    out["score"] = _score(frame)
    out["predicted"] = out["score"] >= 0.5
    out["predicted_on"] = cycle_date(cycle)
    out["prediction_id"] = [f"c{cycle}-{i}" for i in range(len(out))]
    return out


def outcomes_arrived(spec: StreamSpec, cycle: int) -> pd.DataFrame:
    """Ground truth that arrived in ``cycle``: for the predictions of ``cycle - outcome_delay_cycles``."""
    made = cycle - spec.outcome_delay_cycles
    if made < 1:
        return pd.DataFrame({"prediction_id": [], "outcome": [], "arrived_on": []})
    _, truth = _population(spec, made)
    return pd.DataFrame({"prediction_id": [f"c{made}-{i}" for i in range(len(truth))], "outcome": truth,
                         "arrived_on": cycle_date(cycle)})
