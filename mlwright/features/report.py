"""The drift report artifact of one run: JSON (the full result) and a small HTML table."""

from __future__ import annotations

import html
import json
from pathlib import Path

from mlwright.ml.drift import DriftResult

_COLS = ("feature", "kind", "level", "psi", "ks_statistic", "ks_pvalue", "wasserstein_normed", "jensen_shannon",
         "null_share_current")


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape("" if value is None else str(value))


def render_html(result: DriftResult, title: str) -> str:
    head = "".join(f"<th>{c}</th>" for c in _COLS)
    rows = "".join(
        f'<tr class="{f.level}">' + "".join(f"<td>{_cell(getattr(f, c))}</td>" for c in _COLS) + "</tr>"
        for f in sorted(result.features, key=lambda f: ({"critical": 0, "warning": 1}.get(f.level, 2), f.feature)))
    return (f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
            "<style>td,th{padding:2px 8px;font:13px sans-serif}.critical{background:#fbb}.warning{background:#fe9}"
            f"</style><h1>{html.escape(title)}</h1><p>overall: <b>{result.level}</b>, "
            f"{len(result.drifted)} of {len(result.features)} features drifted</p>"
            f"<table><tr>{head}</tr>{rows}</table>")


def write(directory: Path, result: DriftResult, title: str) -> dict[str, str]:
    """Write ``drift.json`` and ``drift.html`` (replaced whole on a retry); returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / "drift.json", "html": directory / "drift.html"}
    for kind, body in (("json", json.dumps({"title": title, **result.model_dump(mode="json")}, indent=1)),
                       ("html", render_html(result, title))):
        tmp = paths[kind].with_suffix(".tmp")
        tmp.write_text(body)
        tmp.replace(paths[kind])
    return {k: str(v) for k, v in paths.items()}
