"""A documented generative model of four hospital source systems, deterministic for a seed.

Each patient has a latent risk ``z`` built from age, comorbidities and noise. ``z`` drives
everything a real extract would show, so models trained on the features learn something real:

* EHR (SQL): patients (age, sex), encounters (count ~ Poisson(exp(0.2 + 0.5 z)); inpatient share
  rises with z; length of stay ~ 1 + Poisson(exp(0.6 + 0.3 z))), diagnoses (diabetes, CHF, COPD,
  CKD, hypertension, each with probability sigmoid(a + b z)).
* Labs (Parquet, one file per day, last 30 days): panels of seven tests whose values shift with z
  and with the patient's conditions (e.g. creatinine with CKD, glucose with diabetes).
* Claims (CSV, one file per month, last 365 days): count ~ Poisson(exp(0.8 + 0.4 z)).
* Pharmacy (HTTP JSON API, last 180 days): fills of drug classes whose odds follow conditions.
* Outcomes (EHR table): readmission_30d ~ sigmoid(-2.0 + 1.1 z); deterioration ~
  sigmoid(-2.6 + 0.9 z + 1.2 readmission); high_acuity ~ sigmoid(-3.5 + 0.8 z + 1.0 deterioration):
  chained, as the three models are.

Messy the way real extracts are: ~2% missing lab values, ~3% of creatinine in µmol/L and of
glucose in mmol/L (the ``unit`` column says so; validation normalises), ~2% of lab rows arrive
in the next day's file, ~0.5% duplicated claim rows, pharmacy fills recorded days after the fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

LAB_TESTS = ("creatinine", "hemoglobin", "wbc", "glucose", "potassium", "lactate", "sodium")
CONDITIONS = {  # name: (ICD-10 code, intercept, slope on z)
    "diabetes": ("E11", -1.2, 0.6),
    "chf": ("I50", -2.4, 0.9),
    "copd": ("J44", -2.2, 0.7),
    "ckd": ("N18", -2.3, 0.8),
    "hypertension": ("I10", -0.4, 0.5),
}
DRUG_CLASSES = ("anticoagulant", "insulin", "diuretic", "opioid", "antibiotic", "steroid", "statin", "beta_blocker")
CLAIM_CATEGORIES = ("inpatient", "outpatient", "ed", "pharmacy")


@dataclass(frozen=True)
class Population:
    patients: pd.DataFrame
    encounters: pd.DataFrame
    diagnoses: pd.DataFrame
    labs: pd.DataFrame  # with file_date: the day file a row lands in
    claims: pd.DataFrame
    fills: pd.DataFrame
    outcomes: pd.DataFrame


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _days_before(run_date: date, days: np.ndarray) -> np.ndarray:
    return (np.datetime64(run_date) - days.astype("timedelta64[D]")).astype("datetime64[D]")


def generate(patients: int, seed: int, run_date: date) -> Population:
    rng = np.random.default_rng(seed)
    n = patients
    ids = np.array([f"P{i:07d}" for i in range(n)])
    age = np.clip(rng.normal(62, 15, n), 18, 100).round().astype(int)
    male = rng.random(n) < 0.48
    base = 0.04 * (age - 62) + rng.normal(0, 0.8, n)
    flags = {}
    for name, (_, a, b) in CONDITIONS.items():
        flags[name] = rng.random(n) < _sigmoid(a + b * base)
    n_conditions = sum(f.astype(int) for f in flags.values())
    z = base + 0.35 * (n_conditions - n_conditions.mean())

    frame = pd.DataFrame({"patient_id": ids, "age": age, "sex": np.where(male, "M", "F")})
    return Population(
        patients=frame,
        encounters=_encounters(rng, ids, z, run_date),
        diagnoses=_diagnoses(ids, flags),
        labs=_labs(rng, ids, z, flags, run_date),
        claims=_claims(rng, ids, z, run_date),
        fills=_fills(rng, ids, z, flags, run_date),
        outcomes=_outcomes(rng, ids, z, run_date),
    )


def _encounters(rng, ids, z, run_date) -> pd.DataFrame:
    counts = rng.poisson(np.exp(0.2 + 0.5 * z))
    who = np.repeat(np.arange(len(ids)), counts)
    zi = z[who]
    kind_draw = rng.random(len(who))
    p_inpatient, p_ed = _sigmoid(-1.8 + 0.8 * zi), _sigmoid(-1.5 + 0.5 * zi)
    kind = np.where(kind_draw < p_inpatient, "inpatient", np.where(kind_draw < p_inpatient + p_ed, "ed", "outpatient"))
    los = np.where(kind == "inpatient", 1 + rng.poisson(np.exp(0.6 + 0.3 * zi)), 0)
    return pd.DataFrame({
        "encounter_id": [f"E{i:09d}" for i in range(len(who))],
        "patient_id": ids[who],
        "admit_date": _days_before(run_date, rng.integers(1, 366, len(who))),
        "encounter_type": kind,
        "length_of_stay": los,
    })


def _diagnoses(ids, flags) -> pd.DataFrame:
    parts = [pd.DataFrame({"patient_id": ids[mask], "icd10": CONDITIONS[name][0], "condition": name})
             for name, mask in flags.items()]
    return pd.concat(parts, ignore_index=True)


def _labs(rng, ids, z, flags, run_date) -> pd.DataFrame:
    panels = rng.poisson(np.exp(-0.1 + 0.4 * z).clip(0, 6))
    who = np.repeat(np.arange(len(ids)), panels)
    days = rng.integers(0, 30, len(who))
    zi, ckd, dm = z[who], flags["ckd"][who], flags["diabetes"][who]
    m = len(who)
    values = {
        "creatinine": np.exp(np.log(0.9) + 0.18 * zi + 0.5 * ckd + rng.normal(0, 0.15, m)),
        "hemoglobin": 13.6 - 0.6 * zi + rng.normal(0, 1.1, m),
        "wbc": np.exp(np.log(7.0) + 0.12 * zi + rng.normal(0, 0.2, m)),
        "glucose": 100 + 12 * zi + 45 * dm + rng.normal(0, 15, m),
        "potassium": 4.2 + 0.18 * zi + 0.3 * ckd + rng.normal(0, 0.35, m),
        "lactate": np.exp(np.log(1.1) + 0.22 * zi + rng.normal(0, 0.25, m)),
        "sodium": 139 - 1.1 * zi + rng.normal(0, 2.5, m),
    }
    units = {"creatinine": "mg/dL", "hemoglobin": "g/dL", "wbc": "10^9/L", "glucose": "mg/dL",
             "potassium": "mmol/L", "lactate": "mmol/L", "sodium": "mmol/L"}
    parts = []
    collected = _days_before(run_date, days)
    for test in LAB_TESTS:
        value = values[test].round(3)
        unit = np.full(m, units[test], dtype=object)
        if test in ("creatinine", "glucose"):  # a lab that reports in SI units for a few rows
            si = rng.random(m) < 0.03
            value = np.where(si, (value * (88.42 if test == "creatinine" else 1 / 18.016)).round(3), value)
            unit[si] = "umol/L" if test == "creatinine" else "mmol/L"
        value = np.where(rng.random(m) < 0.02, np.nan, value)
        parts.append(pd.DataFrame({"patient_id": ids[who], "collected_date": collected, "test": test,
                                   "value": value, "unit": unit}))
    labs = pd.concat(parts, ignore_index=True)
    late = rng.random(len(labs)) < 0.02
    labs["file_date"] = labs["collected_date"] + np.where(late, 1, 0).astype("timedelta64[D]")
    return labs[labs["file_date"] <= np.datetime64(run_date)].reset_index(drop=True)


def _claims(rng, ids, z, run_date) -> pd.DataFrame:
    counts = rng.poisson(np.exp(0.8 + 0.4 * z))
    who = np.repeat(np.arange(len(ids)), counts)
    zi = z[who]
    draw = rng.random(len(who))
    p_in, p_ed = _sigmoid(-2.2 + 0.7 * zi), _sigmoid(-1.8 + 0.5 * zi)
    category = np.where(draw < p_in, "inpatient", np.where(draw < p_in + p_ed, "ed",
                        np.where(draw < p_in + p_ed + 0.3, "pharmacy", "outpatient")))
    base = {"inpatient": 9.0, "ed": 7.0, "outpatient": 5.5, "pharmacy": 4.0}
    amount = np.exp(np.vectorize(base.get)(category) + rng.normal(0, 0.6, len(who))).round(2)
    claims = pd.DataFrame({"claim_id": [f"C{i:09d}" for i in range(len(who))], "patient_id": ids[who],
                           "service_date": _days_before(run_date, rng.integers(1, 366, len(who))),
                           "category": category, "amount": amount})
    duplicated = claims.sample(frac=0.005, random_state=int(rng.integers(1 << 31)))
    return pd.concat([claims, duplicated], ignore_index=True)


def _fills(rng, ids, z, flags, run_date) -> pd.DataFrame:
    parts = []
    odds = {"anticoagulant": -2.5 + 1.5 * flags["chf"], "insulin": -3.0 + 3.0 * flags["diabetes"],
            "diuretic": -2.2 + 1.8 * flags["chf"] + 0.8 * flags["ckd"], "opioid": -2.4 + 0.4 * z,
            "antibiotic": -1.8 + 0.4 * z, "steroid": -2.6 + 1.6 * flags["copd"], "statin": -0.8 + 0.3 * z,
            "beta_blocker": -1.5 + 1.2 * flags["hypertension"]}
    for drug, logit in odds.items():
        counts = rng.poisson(3 * _sigmoid(logit))
        who = np.repeat(np.arange(len(ids)), counts)
        fill = _days_before(run_date, rng.integers(0, 180, len(who)))
        lag = rng.choice([0, 0, 0, 1, 2, 5], len(who)).astype("timedelta64[D]")
        parts.append(pd.DataFrame({"patient_id": ids[who], "drug_class": drug, "fill_date": fill,
                                   "days_supply": rng.choice([7, 14, 30, 90], len(who)),
                                   "recorded_date": np.minimum(fill + lag, np.datetime64(run_date))}))
    fills = pd.concat(parts, ignore_index=True)
    fills.insert(0, "fill_id", [f"F{i:09d}" for i in range(len(fills))])
    return fills


def _outcomes(rng, ids, z, run_date) -> pd.DataFrame:
    readmit = rng.random(len(ids)) < _sigmoid(-2.0 + 1.1 * z)
    deteriorate = rng.random(len(ids)) < _sigmoid(-2.6 + 0.9 * z + 1.2 * readmit)
    acuity = rng.random(len(ids)) < _sigmoid(-3.5 + 0.8 * z + 1.0 * deteriorate)
    return pd.DataFrame({"patient_id": ids, "as_of": np.datetime64(run_date), "readmission_30d": readmit.astype(int),
                         "deterioration": deteriorate.astype(int), "high_acuity": acuity.astype(int)})
