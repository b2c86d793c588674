"""Real datasets that ship inside scikit-learn (no download), written out as files to train on."""

from __future__ import annotations

from pathlib import Path

from sklearn import datasets

from mlwright.private import private_dir, private_file

# name -> (loader, target column, what it is)
SAMPLES = {
    "breast_cancer": (datasets.load_breast_cancer, "target", "569 tumours, 30 features, malignant (0) or benign (1)"),
    "diabetes": (datasets.load_diabetes, "target", "442 patients, 10 features, disease progression after a year"),
    "wine": (datasets.load_wine, "target", "178 wines, 13 features, 3 cultivars"),
}


def write_sample(name: str, directory: Path, fmt: str = "csv") -> Path:
    """Write sample ``name`` to ``directory`` as CSV or Parquet; returns the path. Idempotent."""
    if name not in SAMPLES:
        raise ValueError(f"unknown sample {name!r}; choose one of {sorted(SAMPLES)}")
    loader, _target, _about = SAMPLES[name]
    frame = loader(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown format {fmt!r}; choose csv or parquet")
    path = private_file(private_dir(directory) / f"{name}.{fmt}")
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path
