"""Drift-detection accuracy at the default thresholds (mlwright.ml.drift).

Null case: reference and current drawn from the same distribution; shifted cases: mean shift
0.1σ/0.25σ/0.5σ/1σ, variance ×1.5, a new category at 5 %. For each sample size (reference and
current the same size) prints, per statistic, the share of draws flagged at warning or above
(false-positive rate for the null case, detection rate otherwise), and the overall feature level.

    .venv/bin/python bench/drift.py [--draws 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from mlwright.ml.drift import Level, compare

CASES = ["null", "mean+0.1σ", "mean+0.25σ", "mean+0.5σ", "mean+1σ", "var×1.5", "new category 5%"]
STATS = ["psi", "ks", "wasserstein", "jensen_shannon", "any"]


def _frames(case: str, n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    if case == "new category 5%" or case == "null-cat":
        cats = np.array(["a", "b", "c", "d"])
        ref = pd.DataFrame({"f": rng.choice(cats, n, p=[0.4, 0.3, 0.2, 0.1])})
        cur = rng.choice(cats, n, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
        if case != "null-cat":
            cur[rng.random(n) < 0.05] = "e"
        return ref, pd.DataFrame({"f": cur})
    ref = pd.DataFrame({"f": rng.normal(0, 1, n)})
    shift = {"mean+0.1σ": 0.1, "mean+0.25σ": 0.25, "mean+0.5σ": 0.5, "mean+1σ": 1.0}.get(case, 0.0)
    scale = 1.5 ** 0.5 if case == "var×1.5" else 1.0
    return ref, pd.DataFrame({"f": rng.normal(shift, scale, n)})


def _flags(case, n, draws, seed) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    hits = dict.fromkeys(STATS, 0)
    for _ in range(draws):
        f = compare(*_frames(case, n, rng)).features[0]
        for stat in STATS[:-1]:
            hits[stat] += any(r.startswith(stat) for r in f.reasons)
        hits["any"] += f.level != Level.none
    return {k: v / draws for k, v in hits.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=200)
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"rate of draws flagged (warning or above), {args.draws} draws per cell; "
          "null rows are false-positive rates")
    print(f"{'case':<18}{'rows':>8}  " + "".join(f"{s:>15}" for s in STATS))
    for n in (1_000, 10_000, 100_000):
        for i, case in enumerate(["null", "null-cat", *CASES[1:]]):
            rates = _flags(case, n, args.draws, seed=1000 * i + n)
            print(f"{case:<18}{n:>8}  " + "".join(f"{rates[s]:>15.3f}" for s in STATS), flush=True)
    print(f"elapsed {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
