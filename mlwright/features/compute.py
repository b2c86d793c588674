"""The 47 patient-risk features, vectorised on integer patient codes.

Same definitions and output as ``mlwright.patient_risk.features.compute_features`` (a test
checks equality), but every source row is mapped once to its patient's row number and all
aggregates are ``np.bincount`` / ``np.minimum.at`` over those codes: no per-table groupby on
string ids followed by a reindex, which dominated at a million patients.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mlwright.heartbeat import check_cancelled
from mlwright.patient_risk.features import ABNORMAL, FEATURE_NAMES
from mlwright.patient_risk.synthetic import CONDITIONS, LAB_TESTS

if TYPE_CHECKING:
    from mlwright.contracts.refs import DatasetRef
    from mlwright.store.artifacts import ArtifactStore

_DRUGS = ("anticoagulant", "insulin", "diuretic", "opioid", "steroid")


def _id_set(index: pd.Index) -> pa.Array:
    """The population's ids as one Arrow array, hashed by each lookup in ``_codes``."""
    return pa.concat_arrays(_chunks(index)) if len(index) else pa.array([], pa.large_string())


def _chunks(values) -> list[pa.Array]:
    # Arrow-backed pandas columns convert zero-copy, as ChunkedArrays; handing those to
    # pa.chunked_array as if they were chunks iterated 16M ids in Python (15 s). Flatten instead.
    arr = pa.array(values)
    parts = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    return [part.cast(pa.large_string()) for part in parts]


def _codes(ids: pa.Array, column: pd.Series) -> np.ndarray:
    """Row number in the population of each id of ``column``: one Arrow hash lookup (pandas would
    first copy the strings to Python objects). -1 for rows of patients outside the population:
    they have no feature row (as in the reference)."""
    found = pc.index_in(pa.chunked_array(_chunks(column), type=pa.large_string()), value_set=ids).fill_null(-1)
    # int32 (Arrow's index type) halves what the codes of 7M lab rows hold at a million patients.
    return (pa.concat_arrays(found.chunks) if found.num_chunks else pa.array([], pa.int32())).to_numpy()


def _small(values: pd.Series, categories) -> np.ndarray:
    """Codes of a low-cardinality text column in ``categories`` order (-1 for anything else)."""
    cat = pd.Categorical(values)
    wanted = {name: i for i, name in enumerate(categories)}
    lookup = np.array([wanted.get(c, -1) for c in cat.categories] + [-1], dtype=np.int64)
    return lookup[cat.codes]  # a null's code is -1: the sentinel at the end


def _day_numbers(values: pd.Series) -> np.ndarray:
    """Days since the epoch. Parquet dates arrive as Python ``date`` objects unless read with
    ``date_as_object=False``; pd.to_datetime on millions of those took tens of seconds."""
    if values.dtype == object:
        return pa.array(values, type=pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    return pd.to_datetime(values).to_numpy("datetime64[D]").astype(np.int64)


def _days(day: pd.Timestamp, values: pd.Series) -> np.ndarray:
    return np.datetime64(day.date(), "D").astype(np.int64) - _day_numbers(values)


def _distinct_per_row(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Distinct small non-negative ``values`` per patient code, via an n × span presence table
    (np.unique on a few million int64 keys hashes them and took seconds)."""
    if len(codes) == 0:
        return np.zeros(n, dtype=np.int64)
    span = int(values.max()) + 1
    seen = np.zeros(n * span, dtype=bool)
    wide = np.int32 if n * span < 2**31 else np.int64
    seen[codes.astype(wide, copy=False) * span + values.astype(wide, copy=False)] = True
    return seen.reshape(n, span).sum(axis=1)


class _Agg:
    """Aggregates over rows already mapped to patient codes (negative codes are dropped)."""

    def __init__(self, codes: np.ndarray, n: int):
        self.keep = codes >= 0
        self.codes = codes[self.keep]
        self.n = n

    def _sel(self, values):
        return np.asarray(values)[self.keep]

    def count(self, mask=None) -> np.ndarray:
        codes = self.codes if mask is None else self.codes[self._sel(mask)]
        return np.bincount(codes, minlength=self.n)

    def sum(self, values) -> np.ndarray:
        return np.bincount(self.codes, weights=self._sel(values).astype(float), minlength=self.n)

    def extreme(self, values, ufunc, empty: float) -> np.ndarray:
        out = np.full(self.n, np.inf if ufunc is np.minimum else -np.inf)
        ufunc.at(out, self.codes, self._sel(values).astype(float))
        out[self.count() == 0] = empty
        return out

    def nunique(self, values) -> np.ndarray:
        # Distinct (patient, value) pairs, counted per patient.
        v = pd.factorize(self._sel(values))[0].astype(np.int64)
        return _distinct_per_row(self.codes, v, self.n)


#: The columns each table's features read: a caller that loads the tables itself reads no others.
COLUMNS = {
    "patients": ("patient_id", "age", "sex"),
    "encounters": ("patient_id", "encounter_type", "admit_date", "length_of_stay"),
    "diagnoses": ("patient_id", "condition"),
    "labs": ("patient_id", "test", "value", "collected_date"),
    "claims": ("patient_id", "category", "amount"),
    "fills": ("patient_id", "drug_class", "fill_date"),
}


def compute_features_fast(patients: pd.DataFrame, encounters: pd.DataFrame, diagnoses: pd.DataFrame,
                          labs: pd.DataFrame, claims: pd.DataFrame, fills: pd.DataFrame,
                          run_date: date) -> pd.DataFrame:
    """One row per patient (index: patient_id), columns exactly ``FEATURE_NAMES``."""
    tables = {"patients": patients, "encounters": encounters, "diagnoses": diagnoses, "labs": labs,
              "claims": claims, "fills": fills}
    return compute_features_one_table_at_a_time(tables.__getitem__, run_date)


def compute_features_one_table_at_a_time(load: Callable[[str], pd.DataFrame], run_date: date) -> pd.DataFrame:
    """The same table, from ``load(name)`` called once per table of ``COLUMNS``, each table's
    features computed before the next is loaded.

    A caller whose ``load`` reads from storage holds one source at a time: at a million patients
    the six tables held together were ~1 GB of frames, and the step peaked at 2.1 GB.
    """
    day = pd.Timestamp(run_date)
    patients = load("patients")
    index = pd.Index(patients["patient_id"], name="patient_id")
    cols: dict[str, np.ndarray] = {
        "age": patients["age"].to_numpy(), "sex_male": (patients["sex"] == "M").to_numpy().astype(int)}
    del patients
    ids, n = _id_set(index), len(index)
    for name, add in (("encounters", _encounters), ("diagnoses", _diagnoses), ("labs", _labs),
                      ("claims", _claims), ("fills", _fills)):
        check_cancelled()  # each table is seconds at a million patients
        table = load(name)
        add(cols, n, table, _codes(ids, table["patient_id"]), day)
        del table  # before the next one is loaded
    # copy=False: one block per column instead of a consolidated copy of all 47 (360 MB at 1M rows).
    return pd.DataFrame({name: cols[name] for name in FEATURE_NAMES}, index=index, copy=False)


def table_loader(store: ArtifactStore, refs: dict[str, DatasetRef]) -> Callable[[str], pd.DataFrame]:
    """``load`` for ``compute_features_one_table_at_a_time`` from stored tables: only ``COLUMNS``."""
    return lambda name: store.get_frame(refs[name], columns=list(COLUMNS[name]))


def _encounters(cols: dict, n: int, encounters: pd.DataFrame, codes: np.ndarray, day: pd.Timestamp) -> None:
    enc = _Agg(codes, n)
    kind = _small(encounters["encounter_type"], ("inpatient", "ed", "outpatient"))
    age_days = _days(day, encounters["admit_date"])
    cols["enc_count_365d"] = enc.count()
    cols["inpatient_count_365d"] = enc.count(kind == 0)
    cols["ed_count_365d"] = enc.count(kind == 1)
    cols["outpatient_count_365d"] = enc.count(kind == 2)
    cols["los_total_365d"] = enc.sum(encounters["length_of_stay"])
    cols["los_max_365d"] = enc.extreme(encounters["length_of_stay"], np.maximum, 0.0)
    cols["days_since_last_encounter"] = enc.extreme(age_days, np.minimum, 366.0)
    cols["enc_count_90d"] = enc.count(age_days <= 90)
    cols["inpatient_count_90d"] = enc.count((age_days <= 90) & (kind == 0))


def _diagnoses(cols: dict, n: int, diagnoses: pd.DataFrame, codes: np.ndarray, day: pd.Timestamp) -> None:
    dx = _Agg(codes, n)
    condition = _small(diagnoses["condition"], CONDITIONS)
    for i, name in enumerate(CONDITIONS):
        cols[f"has_{name}"] = (dx.count(condition == i) > 0).astype(int)
    cols["chronic_condition_count"] = sum(cols[f"has_{c}"] for c in CONDITIONS)


def _claims(cols: dict, n: int, claims: pd.DataFrame, codes: np.ndarray, day: pd.Timestamp) -> None:
    cl = _Agg(codes, n)
    category = _small(claims["category"], ("ed", "inpatient"))
    count = cl.count()
    amount = cl.sum(claims["amount"])
    cols["claim_count_365d"] = count
    cols["claim_amount_365d"] = amount.round(2)
    cols["ed_claim_count_365d"] = cl.count(category == 0)
    cols["inpatient_claim_count_365d"] = cl.count(category == 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cols["claim_amount_mean_365d"] = np.where(count > 0, amount / np.maximum(count, 1), 0.0).round(2)


def _fills(cols: dict, n: int, fills: pd.DataFrame, codes: np.ndarray, day: pd.Timestamp) -> None:
    fl = _Agg(codes, n)
    drug_classes = pd.Categorical(fills["drug_class"])
    drug = drug_classes.codes
    drug_code = {name: i for i, name in enumerate(drug_classes.categories)}
    fill_age = _days(day, fills["fill_date"])
    cols["fill_count_180d"] = fl.count()
    classes = fl.nunique(drug)
    cols["drug_class_count_180d"] = classes
    for d in _DRUGS:
        cols[f"on_{d}"] = (fl.count(drug == drug_code.get(d, -2)) > 0).astype(int)
    cols["antibiotic_fill_count_90d"] = fl.count((drug == drug_code.get("antibiotic", -2)) & (fill_age <= 90))
    cols["polypharmacy"] = (classes >= 5).astype(int)


def _labs(cols: dict, n: int, labs: pd.DataFrame, codes: np.ndarray, day: pd.Timestamp) -> None:
    # Labs are the biggest table (7M rows at a million patients): each temporary here costs ~55 MB,
    # so they are narrowed, computed in place and dropped as soon as they are used (bench/features.py).
    t = len(LAB_TESTS)
    keep = codes >= 0
    every = bool(keep.all())

    def kept(values: np.ndarray) -> np.ndarray:
        return values if every else values[keep]

    codes = kept(codes)
    test_idx = kept(_small(labs["test"], LAB_TESTS))
    value = kept(labs["value"].to_numpy(float))
    collected = kept(_day_numbers(labs["collected_date"]))
    valid = test_idx >= 0
    key = np.where(valid, test_idx, 0).astype(np.int32 if n * t < 2**31 else np.int64)
    key += codes.astype(key.dtype, copy=False) * t
    present = valid & ~np.isnan(value)
    del valid
    # Last non-null value by collection day (groupby().last() skips nulls); ties: last row in file order.
    order = np.argsort(collected, kind="stable")
    order = order[present[order]]
    last = np.full(n * t, np.nan)
    last[key[order]] = value[order]
    del order
    key, weights = key[present], value[present]
    mean = np.bincount(key, weights=weights, minlength=n * t)
    counts = np.bincount(key, minlength=n * t)
    del key, weights, present
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(mean, counts, out=mean)
    mean[counts == 0] = np.nan
    del counts
    last, mean = last.reshape(n, t), mean.reshape(n, t)
    for i, name in enumerate(LAB_TESTS):
        cols[f"{name}_last"] = last[:, i]
    for i, name in enumerate(LAB_TESTS):
        cols[f"{name}_mean_30d"] = mean[:, i]
    day_offset = collected - (collected.min() if len(collected) else 0)
    del collected
    cols["lab_panel_count_30d"] = _distinct_per_row(codes, day_offset, n).astype(float)
    del day_offset
    bounds = np.array([[-np.inf if ABNORMAL.get(t, (None, None))[0] is None else ABNORMAL[t][0],
                        np.inf if ABNORMAL.get(t, (None, None))[1] is None else ABNORMAL[t][1]] for t in LAB_TESTS]
                      + [[-np.inf, np.inf]])  # last row: tests outside the catalog are never abnormal
    abnormal = value < bounds[test_idx, 0]
    abnormal |= value > bounds[test_idx, 1]
    cols["abnormal_lab_count_30d"] = np.bincount(codes[abnormal], minlength=n)
