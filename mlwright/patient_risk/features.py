"""The feature catalog: 47 features, each with its source, definition and valid range.

``compute_features`` builds all of them per patient from the validated sources, as of the run
date; a test checks its columns are exactly the catalog, in order. ``mlwright patient-risk
features`` prints the catalog as a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from mlwright.patient_risk.synthetic import CONDITIONS, DRUG_CLASSES, LAB_TESTS


@dataclass(frozen=True)
class Feature:
    name: str
    source: str
    definition: str
    low: float
    high: float


_LAB_DESCR = {"creatinine": "mg/dL", "hemoglobin": "g/dL", "wbc": "10^9/L", "glucose": "mg/dL",
              "potassium": "mmol/L", "lactate": "mmol/L", "sodium": "mmol/L"}
ABNORMAL = {"creatinine": (None, 1.5), "hemoglobin": (10, None), "wbc": (4, 11), "glucose": (None, 200),
            "potassium": (3.3, 5.3), "lactate": (None, 2.0), "sodium": (133, 146)}

CATALOG: tuple[Feature, ...] = (
    Feature("age", "ehr", "Age in years at the run date", 0, 120),
    Feature("sex_male", "ehr", "1 if recorded sex is male", 0, 1),
    Feature("enc_count_365d", "ehr", "Encounters in the 365 days before the run date", 0, 500),
    Feature("inpatient_count_365d", "ehr", "Inpatient admissions, 365 days", 0, 365),
    Feature("ed_count_365d", "ehr", "Emergency-department visits, 365 days", 0, 365),
    Feature("outpatient_count_365d", "ehr", "Outpatient visits, 365 days", 0, 500),
    Feature("los_total_365d", "ehr", "Sum of inpatient length of stay (days), 365 days", 0, 365),
    Feature("los_max_365d", "ehr", "Longest inpatient stay (days), 365 days", 0, 365),
    Feature("days_since_last_encounter", "ehr", "Days from the latest encounter to the run date (366 if none)", 0, 366),
    Feature("enc_count_90d", "ehr", "Encounters in the 90 days before the run date", 0, 200),
    Feature("inpatient_count_90d", "ehr", "Inpatient admissions, 90 days", 0, 90),
    *(Feature(f"has_{name}", "ehr", f"1 if a {code} diagnosis is on record", 0, 1)
      for name, (code, _, _) in CONDITIONS.items()),
    Feature("chronic_condition_count", "ehr", "Number of the five tracked chronic conditions", 0, 5),
    *(Feature(f"{t}_last", "labs", f"Most recent {t} in the last 30 days ({_LAB_DESCR[t]}; null if none)",
              *{"creatinine": (0.1, 25), "hemoglobin": (2, 25), "wbc": (0.1, 150), "glucose": (15, 1500),
                "potassium": (1.5, 9.5), "lactate": (0.1, 30), "sodium": (95, 185)}[t]) for t in LAB_TESTS),
    *(Feature(f"{t}_mean_30d", "labs", f"Mean {t} over the last 30 days ({_LAB_DESCR[t]}; null if none)",
              *{"creatinine": (0.1, 25), "hemoglobin": (2, 25), "wbc": (0.1, 150), "glucose": (15, 1500),
                "potassium": (1.5, 9.5), "lactate": (0.1, 30), "sodium": (95, 185)}[t]) for t in LAB_TESTS),
    Feature("lab_panel_count_30d", "labs", "Days with any lab result in the last 30 days", 0, 30),
    Feature("abnormal_lab_count_30d", "labs", "Results outside the reference range, 30 days", 0, 1000),
    Feature("claim_count_365d", "claims", "Claims with service in the 365 days before the run date", 0, 5000),
    Feature("claim_amount_365d", "claims", "Total claimed amount, 365 days", 0, 1e8),
    Feature("ed_claim_count_365d", "claims", "Emergency claims, 365 days", 0, 1000),
    Feature("inpatient_claim_count_365d", "claims", "Inpatient claims, 365 days", 0, 1000),
    Feature("claim_amount_mean_365d", "claims", "Mean claimed amount, 365 days (0 if none)", 0, 1e7),
    Feature("fill_count_180d", "pharmacy", "Prescription fills in the 180 days before the run date", 0, 2000),
    Feature("drug_class_count_180d", "pharmacy", "Distinct drug classes filled, 180 days", 0, len(DRUG_CLASSES)),
    Feature("on_anticoagulant", "pharmacy", "1 if an anticoagulant was filled within 180 days", 0, 1),
    Feature("on_insulin", "pharmacy", "1 if insulin was filled within 180 days", 0, 1),
    Feature("on_diuretic", "pharmacy", "1 if a diuretic was filled within 180 days", 0, 1),
    Feature("on_opioid", "pharmacy", "1 if an opioid was filled within 180 days", 0, 1),
    Feature("on_steroid", "pharmacy", "1 if a systemic steroid was filled within 180 days", 0, 1),
    Feature("antibiotic_fill_count_90d", "pharmacy", "Antibiotic fills in the last 90 days", 0, 500),
    Feature("polypharmacy", "pharmacy", "1 if five or more drug classes were filled within 180 days", 0, 1),
)
FEATURE_NAMES = tuple(f.name for f in CATALOG)


def compute_features(patients: pd.DataFrame, encounters: pd.DataFrame, diagnoses: pd.DataFrame,
                     labs: pd.DataFrame, claims: pd.DataFrame, fills: pd.DataFrame, run_date: date) -> pd.DataFrame:
    """One row per patient (index: patient_id), columns exactly ``FEATURE_NAMES``."""
    day = pd.Timestamp(run_date)
    out = pd.DataFrame(index=pd.Index(patients["patient_id"], name="patient_id"))
    out["age"] = patients["age"].to_numpy()
    out["sex_male"] = (patients["sex"] == "M").astype(int).to_numpy()
    _encounter_features(out, encounters, day)
    conditions = diagnoses.assign(v=1).pivot_table(index="patient_id", columns="condition", values="v", aggfunc="max")
    for name in CONDITIONS:
        out[f"has_{name}"] = conditions.get(name, pd.Series(dtype=float)).reindex(out.index).fillna(0).astype(int)
    out["chronic_condition_count"] = out[[f"has_{n}" for n in CONDITIONS]].sum(axis=1)
    _lab_features(out, labs)
    _claim_features(out, claims)
    _fill_features(out, fills, day)
    return out[list(FEATURE_NAMES)]


def _count(frame: pd.DataFrame, index: pd.Index, mask=None) -> pd.Series:
    rows = frame if mask is None else frame[mask]
    return rows.groupby("patient_id").size().reindex(index).fillna(0).astype(int)


def _encounter_features(out: pd.DataFrame, enc: pd.DataFrame, day: pd.Timestamp) -> None:
    admitted = pd.to_datetime(enc["admit_date"])
    age_days = (day - admitted).dt.days
    kind = enc["encounter_type"]
    out["enc_count_365d"] = _count(enc, out.index)
    out["inpatient_count_365d"] = _count(enc, out.index, kind == "inpatient")
    out["ed_count_365d"] = _count(enc, out.index, kind == "ed")
    out["outpatient_count_365d"] = _count(enc, out.index, kind == "outpatient")
    los = enc.groupby("patient_id")["length_of_stay"]
    out["los_total_365d"] = los.sum().reindex(out.index).fillna(0)
    out["los_max_365d"] = los.max().reindex(out.index).fillna(0)
    out["days_since_last_encounter"] = age_days.groupby(enc["patient_id"]).min().reindex(out.index).fillna(366)
    out["enc_count_90d"] = _count(enc, out.index, age_days <= 90)
    out["inpatient_count_90d"] = _count(enc, out.index, (age_days <= 90) & (kind == "inpatient"))


def _lab_features(out: pd.DataFrame, labs: pd.DataFrame) -> None:
    ordered = labs.sort_values("collected_date")
    last = ordered.groupby(["patient_id", "test"])["value"].last().unstack()
    mean = labs.groupby(["patient_id", "test"])["value"].mean().unstack()
    for test in LAB_TESTS:
        out[f"{test}_last"] = last.get(test, pd.Series(dtype=float)).reindex(out.index)
    for test in LAB_TESTS:
        out[f"{test}_mean_30d"] = mean.get(test, pd.Series(dtype=float)).reindex(out.index)
    out["lab_panel_count_30d"] = labs.groupby("patient_id")["collected_date"].nunique().reindex(out.index).fillna(0)
    low = labs["test"].map({t: lo for t, (lo, _) in ABNORMAL.items()}).astype(float)
    high = labs["test"].map({t: hi for t, (_, hi) in ABNORMAL.items()}).astype(float)
    abnormal = (labs["value"] < low.fillna(-np.inf)) | (labs["value"] > high.fillna(np.inf))
    out["abnormal_lab_count_30d"] = _count(labs, out.index, abnormal)


def _claim_features(out: pd.DataFrame, claims: pd.DataFrame) -> None:
    out["claim_count_365d"] = _count(claims, out.index)
    amount = claims.groupby("patient_id")["amount"]
    out["claim_amount_365d"] = amount.sum().reindex(out.index).fillna(0).round(2)
    out["ed_claim_count_365d"] = _count(claims, out.index, claims["category"] == "ed")
    out["inpatient_claim_count_365d"] = _count(claims, out.index, claims["category"] == "inpatient")
    out["claim_amount_mean_365d"] = amount.mean().reindex(out.index).fillna(0).round(2)


def _fill_features(out: pd.DataFrame, fills: pd.DataFrame, day: pd.Timestamp) -> None:
    age_days = (day - pd.to_datetime(fills["fill_date"])).dt.days
    out["fill_count_180d"] = _count(fills, out.index)
    classes = fills.groupby("patient_id")["drug_class"].nunique().reindex(out.index).fillna(0).astype(int)
    out["drug_class_count_180d"] = classes
    for drug in ("anticoagulant", "insulin", "diuretic", "opioid", "steroid"):
        out[f"on_{drug}"] = (_count(fills, out.index, fills["drug_class"] == drug) > 0).astype(int)
    out["antibiotic_fill_count_90d"] = _count(fills, out.index, (fills["drug_class"] == "antibiotic") & (age_days <= 90))
    out["polypharmacy"] = (classes >= 5).astype(int)


def catalog_markdown() -> str:
    rows = ["| # | feature | source | definition | valid range |", "|---|---|---|---|---|"]
    rows += [f"| {i} | `{f.name}` | {f.source} | {f.definition} | {f.low:g} – {f.high:g} |"
             for i, f in enumerate(CATALOG, 1)]
    return "\n".join(rows)
