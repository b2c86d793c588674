"""Features + statistics + drift for a million patients × 47 features: wall time and peak RSS.

The parent process generates two synthetic populations (current and reference run dates) and
writes their sources as Parquet; a fresh child process then does what a FeaturePipeline run does
with them — read the sources, compute the 47 features (mlwright.features.compute), summarise
every feature (mlwright.features.stats) and compare with the reference features
(mlwright.ml.drift) — so its peak RSS is the pipeline's, not the generator's.

    .venv/bin/python bench/features.py [--patients 1000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import workers  # noqa: F401  (the workers' Arrow allocator, inherited by the child; see workers/__init__.py)

TABLES = ("patients", "encounters", "diagnoses", "labs", "claims", "fills")
# The columns the features use: the pipeline's extract step reads only these.
COLUMNS = {"patients": ["patient_id", "age", "sex"],
           "encounters": ["patient_id", "admit_date", "encounter_type", "length_of_stay"],
           "diagnoses": ["patient_id", "condition"], "labs": ["patient_id", "collected_date", "test", "value"],
           "claims": ["patient_id", "category", "amount"], "fills": ["patient_id", "drug_class", "fill_date"]}
# Low-cardinality text columns are read as categoricals, as the pipeline's extract step does.
CATEGORIES = ["sex", "encounter_type", "condition", "icd10", "test", "unit", "category", "drug_class"]


def _prepare(root: Path, patients: int) -> None:
    import pandas as pd

    from mlwright.features.compute import compute_features_fast
    from mlwright.patient_risk.synthetic import generate

    ref = generate(patients, seed=2, run_date=date(2026, 2, 1))
    compute_features_fast(*(getattr(ref, t) for t in TABLES), date(2026, 2, 1)).to_parquet(root / "reference.parquet")
    del ref
    cur = generate(patients, seed=1, run_date=date(2026, 3, 1))
    for t in TABLES:
        frame: pd.DataFrame = getattr(cur, t)
        frame.drop(columns=[c for c in ("encounter_id", "claim_id", "fill_id") if c in frame]).to_parquet(
            root / f"{t}.parquet", index=False)


def _run(root: Path) -> dict:
    import pyarrow.parquet as pq

    from mlwright.features.compute import compute_features_fast
    from mlwright.features.stats import summarize
    from mlwright.ml.drift import compare

    t0 = time.perf_counter()
    frames = {}
    for t in TABLES:
        frame = pq.read_table(root / f"{t}.parquet", columns=COLUMNS[t]).to_pandas(
            date_as_object=False, split_blocks=True, self_destruct=True)
        for c in CATEGORIES:
            if c in frame:
                frame[c] = frame[c].astype("category")
        frames[t] = frame
    t1 = time.perf_counter()
    features = compute_features_fast(*(frames[t] for t in TABLES), date(2026, 3, 1))
    rows = {t: len(f) for t, f in frames.items()}
    del frames  # as the pipeline's compute step returns: the sources are released
    t2 = time.perf_counter()
    # The reference partition is read only when the drift step needs it (not timed with the rest).
    reference = pq.read_table(root / "reference.parquet").to_pandas(split_blocks=True, self_destruct=True)
    t_ref = time.perf_counter()
    summaries = summarize(features)
    t3 = time.perf_counter()
    read_ref = t_ref - t2
    result = compare(reference, features)
    t4 = time.perf_counter()
    return {"rows": rows, "features": features.shape, "read_s": t1 - t0, "features_s": t2 - t1,
            "stats_s": t3 - t_ref, "drift_s": t4 - t3,
            "total_s": t4 - t1 - read_ref, "read_ref_s": read_ref, "summaries": len(summaries),
            "drift_level": result.level, "drifted": len(result.drifted),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(_run(Path(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        g0 = time.perf_counter()
        _prepare(Path(tmp), args.patients)
        print(f"generated {args.patients:,} patients (two run dates) in {time.perf_counter() - g0:.0f} s")
        child = subprocess.run([sys.executable, __file__, "--child", tmp], capture_output=True, text=True)
        if child.returncode:
            sys.exit(child.stderr)
        out = json.loads(child.stdout)
    print(f"source rows: {out['rows']}")
    print(f"feature matrix: {out['features'][0]:,} × {out['features'][1]}")
    print(f"read sources  {out['read_s']:6.2f} s, reference {out['read_ref_s']:.2f} s (not in the total)")
    print(f"features      {out['features_s']:6.2f} s")
    print(f"statistics    {out['stats_s']:6.2f} s  ({out['summaries']} features)")
    print(f"drift         {out['drift_s']:6.2f} s  (level {out['drift_level']}, {out['drifted']} features flagged)")
    print(f"total         {out['total_s']:6.2f} s   target < 20 s")
    print(f"peak RSS      {out['peak_rss_mb']:6.0f} MB  target < 2048 MB (whole child: sources + features + reference)")


if __name__ == "__main__":
    main()
