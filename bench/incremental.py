"""Extraction for the next day: a full read of every source's window vs an incremental read
(rows after each source's watermark, added to the previous run's window tables read back from Parquet).

One process, one seeded hospital; the two ways alternate, so machine noise hits both alike. Both
give the same window tables (checked); the incremental way reads far fewer rows from the sources.

    .venv/bin/python bench/incremental.py [--patients 100000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from mlwright.features import incremental
from mlwright.patient_risk import sources, synthetic

DAY = date(2026, 11, 27)


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], statistics.median(values), q[2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp())
    where = sources.SourceLocations.under(root / "sources")
    t0 = time.perf_counter()
    seeded = sources.seed(synthetic.generate(args.patients, 11, DAY), where)
    print(f"seeded {args.patients} patients in {time.perf_counter() - t0:.1f} s: {seeded}")

    previous = {}  # what the run for the day before consumed, kept as Parquet (as the artifact store does)
    for spec in incremental.WATERMARKED:
        table = incremental.read_full(spec.source, where, DAY - timedelta(days=1))[spec.table]
        path = root / f"{spec.source}.parquet"
        table.to_parquet(path, index=False)
        previous[spec.source] = (incremental.high_water(spec.source, table), path)

    def full() -> dict[str, int]:
        return {s.source: len(incremental.read_full(s.source, where, DAY)[s.table]) for s in incremental.WATERMARKED}

    def incr() -> dict[str, int]:
        out = {}
        for s in incremental.WATERMARKED:
            mark, path = previous[s.source]
            new = incremental.read_newer(s.source, where, DAY, mark)[s.table]
            out[s.source] = len(incremental.merge(s.table, pd.read_parquet(path), new, DAY))
            out[f"{s.source} read"] = len(new)
        return out

    times: dict[str, list[float]] = {"full": [], "incremental": []}
    cpu: dict[str, list[float]] = {"full": [], "incremental": []}
    rows: dict[str, dict] = {}
    for _ in range(args.rounds):
        for name, fn in (("full", full), ("incremental", incr)):
            t, c = time.perf_counter(), time.process_time()
            rows[name] = fn()
            times[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    assert all(rows["full"][s.source] == rows["incremental"][s.source] for s in incremental.WATERMARKED)
    print(f"window rows (same both ways): { {s.source: rows['full'][s.source] for s in incremental.WATERMARKED} }")
    print(f"rows read from the sources incrementally: "
          f"{ {s.source: rows['incremental'][f'{s.source} read'] for s in incremental.WATERMARKED} }")
    # CPU time too: on a shared machine the wall clock mostly measures the neighbours.
    for label, series in (("wall", times), ("cpu", cpu)):
        for name, values in series.items():
            p25, med, p75 = _quartiles(values)
            print(f"{label} {name:<12} median {med * 1000:8.1f} ms  p25 {p25 * 1000:8.1f}  p75 {p75 * 1000:8.1f}"
                  f"  (n={len(values)})")
        ratio = statistics.median(series["incremental"]) / statistics.median(series["full"])
        print(f"{label} incremental / full (medians): {ratio:.2f}")


if __name__ == "__main__":
    main()
