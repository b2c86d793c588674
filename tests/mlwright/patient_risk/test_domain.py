"""Pure patient-risk code: generator, validation, features, rules, FHIR."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from mlwright.errors import DataQualityFailed, InvalidInput
from mlwright.patient_risk import features, fhir, rules, synthetic, validation
from mlwright.store.artifacts import ArtifactStore

RUN = date(2026, 11, 27)


@pytest.fixture(scope="module")
def population() -> synthetic.Population:
    return synthetic.generate(3000, 3, RUN)


def test_generation_is_deterministic_for_a_seed(population):
    again = synthetic.generate(3000, 3, RUN)
    pd.testing.assert_frame_equal(population.labs, again.labs)
    assert not synthetic.generate(3000, 4, RUN).outcomes.equals(population.outcomes)


def test_outcomes_follow_the_latent_risk(population):
    # Patients with more admissions are readmitted more often: the signal the models must learn.
    admissions = population.encounters[population.encounters.encounter_type == "inpatient"].groupby("patient_id").size()
    outcomes = population.outcomes.set_index("patient_id")
    frequent = outcomes.loc[admissions[admissions >= 2].index, "readmission_30d"].mean()
    overall = outcomes["readmission_30d"].mean()
    assert 0.05 < overall < 0.4 and frequent > 1.5 * overall


def test_lab_units_are_normalised_and_out_of_range_rows_dropped(population):
    labs = population.labs.assign(file_date=population.labs["file_date"].astype(str))
    si = labs[(labs.test == "creatinine") & (labs.unit == "umol/L")].dropna(subset=["value"]).iloc[0]
    clean, report = validation.validate_labs(labs, RUN, {})
    row = clean[(clean.patient_id == si.patient_id) & (clean.collected_date == si.collected_date)
                & (clean.test == "creatinine")]
    assert row["unit"].item() == "mg/dL" and row["value"].item() == pytest.approx(si.value / 88.42)
    assert report.issues["unit_normalised"] > 0 and set(clean["unit"].unique()) <= {"mg/dL", "g/dL", "10^9/L", "mmol/L"}
    assert clean["value"].notna().all()


def test_labs_read_as_categoricals_validate_to_the_same_bytes_and_report(population, tmp_path):
    """The step reads test, unit and file date as categoricals (a third of the memory); the kept
    rows, their bytes and the report must be those of the text columns."""
    labs = population.labs.assign(file_date=population.labs["file_date"].astype(str))
    store = ArtifactStore(tmp_path)
    stored = store.put_frame(labs)
    labs, read = store.get_frame(stored), store.get_frame(stored, categorical=validation.CATEGORICAL["labs"])
    assert all(isinstance(read[c].dtype, pd.CategoricalDtype) for c in validation.CATEGORICAL["labs"])
    assert list(read["test"].cat.categories) != sorted(read["test"].cat.categories)  # the file's order, not sorted
    (clean_text, report_text), (clean_read, report_read) = (validation.validate_labs(f, RUN, {}) for f in (labs, read))
    assert store.put_frame(clean_read) == store.put_frame(clean_text)
    assert (report_read.issues, report_read.checks) == (report_text.issues, report_text.checks)


def test_duplicate_claims_are_dropped_and_counted(population):
    clean, report = validation.validate_claims(population.claims, RUN, {})
    assert clean["claim_id"].is_unique and report.issues["duplicate_claims"] == len(population.claims) - len(clean)


def test_wrong_schema_and_stale_sources_name_what_is_wrong(population):
    with pytest.raises(DataQualityFailed, match=r"claims is missing columns \['amount'\]"):
        validation.validate_claims(population.claims.drop(columns="amount"), RUN, {})
    with pytest.raises(DataQualityFailed, match="check 'freshness' failed on column 'recorded_date'"):
        validation.validate_pharmacy(population.fills, date(2027, 6, 1), {})


def test_feature_columns_are_exactly_the_catalog(population):
    labs = population.labs.assign(file_date=population.labs["file_date"].astype(str))
    clean_labs, _ = validation.validate_labs(labs, RUN, {})
    table = features.compute_features(population.patients, population.encounters, population.diagnoses, clean_labs,
                                      population.claims, population.fills, RUN)
    assert len(features.CATALOG) == 47 and tuple(table.columns) == features.FEATURE_NAMES
    assert len(table) == 3000 and table.index.is_unique
    for f in features.CATALOG:
        present = table[f.name].dropna()
        assert present.between(f.low, f.high).all(), f.name


def test_catalog_document_is_in_sync():
    doc = (Path(__file__).resolve().parents[3] / "docs" / "feature_catalog.md").read_text()
    assert features.catalog_markdown() in doc, "regenerate: mlwright patient-risk features > docs/feature_catalog.md"


def test_rules_force_the_high_tier_and_record_each_override():
    book = rules.RuleBook.load(Path(rules.__file__).with_name("business_rules.toml"))
    scores = pd.DataFrame({"readmission": [0.05, 0.9, 0.1], "deterioration": [0.05, 0.8, 0.1],
                           "acuity": [0.01, 0.5, 0.1]}, index=pd.Index(["a", "b", "c"], name="patient_id"))
    feats = pd.DataFrame({"potassium_last": [6.5, 4.0, None], "lactate_last": [1.0, 1.0, 1.0],
                          "sodium_last": [140, 140, 140], "inpatient_count_90d": [0, 0, 0]}, index=scores.index)
    out, overrides = rules.apply_rules(scores, feats, book)
    assert out["tier"].tolist() == ["high", "high", "low"] and out["model_tier"].tolist() == ["low", "high", "low"]
    assert overrides.to_dict("records") == [{"patient_id": "a", "rule": "critical_potassium", "from_tier": "low",
                                             "to_tier": "high", "reason": "potassium at or above 6.0 mmol/L"}]
    assert out.loc["a", "rules"] == "critical_potassium"


def test_a_broken_rules_file_is_named(tmp_path):
    bad = tmp_path / "rules.toml"
    bad.write_text("[score]\nreadmission = 1\n")
    with pytest.raises(InvalidInput, match="business_rules_file"):
        rules.RuleBook.load(bad)


def test_fhir_ids_are_deterministic_and_checksums_order_free():
    row = pd.Series({"readmission": 0.2, "deterioration": 0.1, "acuity": 0.05, "tier": "medium", "score": 0.13})
    resource = fhir.risk_assessment("2026-11-27", "P0000001", row, {"readmission-risk": 2})
    assert resource["id"] == "risk-2026-11-27-P0000001" and resource["subject"]["reference"] == "Patient/P0000001"
    bundle = fhir.transaction([resource])
    assert bundle["entry"][0]["request"] == {"method": "PUT", "url": "RiskAssessment/risk-2026-11-27-P0000001"}
    rows = [("a", "high", 0.5), ("b", "low", 0.1)]
    assert fhir.checksum(rows) == fhir.checksum(list(reversed(rows))) != fhir.checksum([("a", "high", 0.5)])


def test_templated_bundles_are_the_bytes_json_dumps_gives():
    # Ids that need escaping, scores that round up, tiny, NaN and infinite: the template must write
    # what json.dumps of the dict-built bundle writes, byte for byte.
    pids = ["P0000001", 'P"q\\b', "Pé\u2028", "P\U0001f600", "P0000005"]
    columns = {"readmission": [0.2, 1e-7, 0.1234565, float("nan"), 1.0],
               "deterioration": [0.1, 0.3333333333, float("inf"), 0.0, 2.5e-6],
               "acuity": [0.05, 0.9999996, 0.5, -0.0, float("-inf")],
               "score": [0.13, 0.0000005, 0.7, 0.25, 0.5], "tier": ["medium", "low", "high", "high", 'lo"w']}
    versions = {"readmission-risk": 2, "acuity-risk": 10, 'odd"name': 1}
    dicts = [fhir.risk_assessment("2026-11-27", pid, {k: v[i] for k, v in columns.items()}, versions)
             for i, pid in enumerate(pids)]
    expected = json.dumps(fhir.transaction(dicts), separators=(",", ":")).encode()
    assert fhir.transaction_bytes("2026-11-27", pids, columns, versions) == expected
    assert fhir.transaction_bytes("2026-11-27", [], {k: [] for k in columns}, versions) == \
        json.dumps(fhir.transaction([]), separators=(",", ":")).encode()
