"""Source validation (schema, ranges, freshness, duplicates), unit normalisation, and the gates.

Each ``validate_*`` returns the cleaned frame(s) and a report; a failed hard check raises
``DataQualityFailed`` whose message names the source, the check and the column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from mlwright.errors import DataQualityFailed
from mlwright.patient_risk.synthetic import CLAIM_CATEGORIES, DRUG_CLASSES, LAB_TESTS

#: Low-cardinality text columns a step may read as categoricals (ArtifactStore.get_frame): same checks,
#: same output, a fraction of the memory.
CATEGORICAL = {"labs": ("test", "unit", "file_date")}
SCHEMAS = {
    "ehr.patients": ("patient_id", "age", "sex"),
    "ehr.encounters": ("encounter_id", "patient_id", "admit_date", "encounter_type", "length_of_stay"),
    "ehr.diagnoses": ("patient_id", "icd10", "condition"),
    "labs": ("patient_id", "collected_date", "test", "value", "unit", "file_date"),
    "claims": ("claim_id", "patient_id", "service_date", "category", "amount"),
    "pharmacy": ("fill_id", "patient_id", "drug_class", "fill_date", "days_supply", "recorded_date"),
}
LAB_UNITS = {  # test: {unit: factor to the canonical unit}, canonical first
    "creatinine": {"mg/dL": 1.0, "umol/L": 1 / 88.42},
    "hemoglobin": {"g/dL": 1.0},
    "wbc": {"10^9/L": 1.0},
    "glucose": {"mg/dL": 1.0, "mmol/L": 18.016},
    "potassium": {"mmol/L": 1.0},
    "lactate": {"mmol/L": 1.0},
    "sodium": {"mmol/L": 1.0},
}
LAB_RANGES = {"creatinine": (0.1, 25), "hemoglobin": (2, 25), "wbc": (0.1, 150), "glucose": (15, 1500),
              "potassium": (1.5, 9.5), "lactate": (0.1, 30), "sodium": (95, 185)}


@dataclass
class Report:
    source: str
    rows_in: int = 0
    rows_out: int = 0
    issues: dict[str, int] = field(default_factory=dict)  # what was dropped or normalised, and how often
    checks: list[dict] = field(default_factory=list)

    def note(self, issue: str, count: int) -> None:
        if count:
            self.issues[issue] = self.issues.get(issue, 0) + int(count)

    def check(self, name: str, passed: bool, column: str | None = None, value: float | None = None,
              threshold: float | None = None, detail: str = "") -> None:
        self.checks.append({"name": name, "column": column, "passed": bool(passed), "value": value,
                            "threshold": threshold, "detail": detail})
        if not passed:
            where = f" column {column!r}" if column else ""
            measured = f" ({value} vs threshold {threshold})" if value is not None else ""
            raise DataQualityFailed(f"{self.source}: check {name!r} failed on{where}{measured}{': ' + detail if detail else ''}",
                                    source=self.source, check=name, column=column)


def require_schema(frame: pd.DataFrame, table: str, report: Report) -> None:
    missing = [c for c in SCHEMAS[table] if c not in frame.columns and not (table == "labs" and c == "file_date")]
    report.check("schema", not missing, detail=f"{table} is missing columns {missing}; has {list(frame.columns)}"
                 if missing else "")


def _fresh(report: Report, dates: pd.Series, run_date: date, max_staleness_days: int, column: str) -> None:
    # Parsed once per distinct value (a 30-day lab extract has 30): parsing 7 million strings held
    # ~0.5 GB at once, the largest part of validate_labs' peak at a million patients.
    latest = pd.to_datetime(pd.Series(dates.unique()), errors="coerce").max()
    stale = (pd.Timestamp(run_date) - latest).days if pd.notna(latest) else 10**6
    report.check("freshness", stale <= max_staleness_days, column, value=stale, threshold=max_staleness_days,
                 detail=f"newest record {stale} days before the run date" if pd.notna(latest) else "no dated records")


def _invalid_share(report: Report, dropped: int, total: int, limit: float, column: str) -> None:
    share = dropped / total if total else 0.0
    report.check("invalid_rows", share <= limit, column, value=round(share, 4), threshold=limit)


def validate_ehr(tables: dict[str, pd.DataFrame], run_date: date, opts: dict) -> tuple[dict[str, pd.DataFrame], Report]:
    report = Report("sources.ehr", rows_in=sum(len(t) for t in tables.values()))
    for name, frame in tables.items():
        require_schema(frame, f"ehr.{name}", report)
    patients = tables["patients"].drop_duplicates("patient_id")
    report.note("duplicate_patients", len(tables["patients"]) - len(patients))
    ok_age = patients["age"].between(0, 120)
    report.note("age_out_of_range", (~ok_age).sum())
    encounters = tables["encounters"].drop_duplicates("encounter_id")
    report.note("duplicate_encounters", len(tables["encounters"]) - len(encounters))
    ok = encounters["encounter_type"].isin(["inpatient", "outpatient", "ed"]) & (encounters["length_of_stay"] >= 0)
    report.note("invalid_encounters", (~ok).sum())
    _invalid_share(report, int((~ok).sum()), len(encounters), opts.get("max_invalid_ratio", 0.05), "encounters")
    _fresh(report, encounters["admit_date"], run_date, opts.get("max_staleness_days", 14), "admit_date")
    out = {"patients": patients[ok_age].reset_index(drop=True), "encounters": encounters[ok].reset_index(drop=True),
           "diagnoses": tables["diagnoses"].drop_duplicates().reset_index(drop=True)}
    report.rows_out = sum(len(t) for t in out.values())
    return out, report


CANONICAL_UNIT = {test: next(iter(units)) for test, units in LAB_UNITS.items()}


def unit_factors(labs: pd.DataFrame) -> pd.Series:
    """Factor from each row's unit to its test's canonical unit; NaN where the unit is unknown."""
    factor = pd.Series(np.nan, index=labs.index)
    for test, units in LAB_UNITS.items():
        is_test = labs["test"] == test
        for unit, f in units.items():
            factor[is_test & (labs["unit"] == unit)] = f
    return factor


def validate_labs(labs: pd.DataFrame, run_date: date, opts: dict) -> tuple[pd.DataFrame, Report]:
    """Masks are computed over the whole extract and applied once: at a million patients the extract
    is about 7 million rows, and every intermediate copy would cost another half gigabyte."""
    report = Report("sources.labs", rows_in=len(labs))
    require_schema(labs, "labs", report)
    labs = labs.astype({"test": "category", "unit": "category"})
    # The kept rows' categories as if built from text (present values, sorted), whatever order a
    # categorical input brought (a file's dictionary order): the output's bytes must not depend on it.
    tests = labs["test"].cat.remove_unused_categories()
    labs["test"] = tests.cat.reorder_categories(sorted(tests.cat.categories))
    repeat = labs.duplicated(["patient_id", "collected_date", "test"])  # one result per test per day is kept
    report.note("repeat_same_day", repeat.sum())
    known = labs["test"].isin(LAB_TESTS)
    report.note("unknown_test", (~repeat & ~known).sum())
    factor = unit_factors(labs)
    canonical = labs["test"].map(CANONICAL_UNIT).astype("category")
    usable = ~repeat & known & factor.notna()
    report.note("unit_normalised", (usable & (factor != 1.0)).sum())  # the canonical unit's factor is 1
    report.note("unknown_unit", (~repeat & known & factor.isna()).sum())
    value = labs["value"] * factor
    report.note("missing_value", (usable & value.isna()).sum())
    low = labs["test"].map({t: lo for t, (lo, _) in LAB_RANGES.items()}).astype(float)
    high = labs["test"].map({t: hi for t, (_, hi) in LAB_RANGES.items()}).astype(float)
    in_range = value.between(low, high) | value.isna()
    report.note("out_of_range", (usable & ~in_range).sum())
    unique = int((~repeat).sum())
    _invalid_share(report, unique - int((usable & in_range).sum()), unique, opts.get("max_invalid_ratio", 0.1), "value")
    _fresh(report, labs["file_date"], run_date, opts.get("max_staleness_days", 2), "file_date")
    keep = (usable & in_range & value.notna()).to_numpy()
    del repeat, known, factor, usable, low, high, in_range  # ~60 MB each at 7 million rows: not kept beside the copy
    out = labs.loc[keep, ["patient_id", "collected_date", "test"]].assign(value=value[keep], unit=canonical[keep])
    report.rows_out = len(out)
    return out.reset_index(drop=True), report


def validate_claims(claims: pd.DataFrame, run_date: date, opts: dict) -> tuple[pd.DataFrame, Report]:
    report = Report("sources.claims", rows_in=len(claims))
    require_schema(claims, "claims", report)
    unique = claims.drop_duplicates("claim_id")
    report.note("duplicate_claims", len(claims) - len(unique))
    amount = pd.to_numeric(unique["amount"], errors="coerce")
    ok = amount.ge(0) & unique["category"].isin(CLAIM_CATEGORIES)
    report.note("invalid_claims", (~ok).sum())
    _invalid_share(report, int((~ok).sum()), len(unique), opts.get("max_invalid_ratio", 0.05), "amount")
    _fresh(report, unique["service_date"], run_date, opts.get("max_staleness_days", 14), "service_date")
    out = unique[ok].assign(amount=amount[ok]).reset_index(drop=True)
    report.rows_out = len(out)
    return out, report


def validate_pharmacy(fills: pd.DataFrame, run_date: date, opts: dict) -> tuple[pd.DataFrame, Report]:
    report = Report("sources.pharmacy", rows_in=len(fills))
    require_schema(fills, "pharmacy", report)
    unique = fills.drop_duplicates("fill_id")
    report.note("duplicate_fills", len(fills) - len(unique))
    ok = unique["drug_class"].isin(DRUG_CLASSES) & (pd.to_numeric(unique["days_supply"], errors="coerce") > 0)
    report.note("invalid_fills", (~ok).sum())
    _invalid_share(report, int((~ok).sum()), len(unique), opts.get("max_invalid_ratio", 0.05), "drug_class")
    _fresh(report, unique["recorded_date"], run_date, opts.get("max_staleness_days", 7), "recorded_date")
    out = unique[ok].reset_index(drop=True)
    report.rows_out = len(out)
    return out, report


def quality_gate(patients: int, orphans: dict[str, float], opts: dict) -> Report:
    """The merged set: enough patients, and few events that belong to no known patient."""
    report = Report("merged")
    report.check("min_patients", patients >= opts.get("min_patients", 10), value=patients,
                 threshold=opts.get("min_patients", 10))
    for source, share in orphans.items():
        report.check("orphan_rows", share <= opts.get("max_orphan_ratio", 0.02), source, value=round(share, 4),
                     threshold=opts.get("max_orphan_ratio", 0.02))
    return report
