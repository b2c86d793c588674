"""The care-management upsert on SQLite and PostgreSQL: one row per patient per run date."""

from __future__ import annotations

import pandas as pd

from mlwright.patient_risk import care


def risk(n: int, tier: str = "low") -> pd.DataFrame:
    return pd.DataFrame({"readmission": [0.1] * n, "deterioration": [0.2] * n, "acuity": [0.05] * n,
                         "score": [0.12] * n, "tier": [tier] * n, "rules": [""] * n},
                        index=pd.Index([f"P{i:07d}" for i in range(n)], name="patient_id"))


def test_upsert_keeps_one_row_per_patient_and_date_across_chunks_and_reruns(engine, monkeypatch):
    monkeypatch.setattr(care, "CHUNK", 7)  # several chunks, the last one partial
    assert care.upsert(engine, "2026-11-27", risk(30), "m v1", "wf-1") == 30
    assert care.upsert(engine, "2026-11-27", risk(30, tier="high"), "m v2", "wf-2") == 30
    care.upsert(engine, "2026-11-26", risk(5), "m v1", "wf-3")
    rows = care.rows_for(engine, "2026-11-27")
    assert len(rows) == 30 and {tier for _, tier, _ in rows} == {"high"}
    assert len(care.rows_for(engine, "2026-11-26")) == 5
