"""The report as a terminal table, JSON, or one self-contained HTML page (inline SVG, no scripts
or fetches: it opens offline and from a mail attachment)."""

from __future__ import annotations

import json
from html import escape

from mlwright.reporting.figures import Report

DEFINITIONS = ("success = completed / finished runs; MTTR = first failure page → completion (runs that paged); "
               "manual = runs with retry_step/skip_step/abort; p50/p95 nearest rank; cost from the step ledger")


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def _num(v: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def as_json(report: Report) -> str:
    return json.dumps(report.as_dict(), default=str, indent=2)


def as_text(report: Report) -> str:
    lines = [f"mlwright report {report.since:%Y-%m-%d %H:%M} → {report.until:%Y-%m-%d %H:%M} UTC", ""]
    head = f"{'pipeline':<22} {'runs':>5} {'success':>8} {'MTTR min':>9} {'manual':>7} {'p50 s':>8} {'p95 s':>8} {'cost/run':>9}"
    lines.append(head)
    for p in report.pipelines:
        lines.append(f"{p.pipeline:<22} {p.runs:>5} {_pct(p.success_rate):>8} {_num(p.mttr_min):>9} "
                     f"{_pct(p.manual_intervention_rate):>7} {_num(p.p50_s):>8} {_num(p.p95_s):>8} "
                     f"{_num(p.cost_per_run, '{:.4f}'):>9}")
    for p in report.pipelines:
        if not p.steps:
            continue
        lines += ["", f"{p.pipeline} steps (from the step ledger)",
                  f"  {'step':<26} {'tries':>5} {'p50 s':>7} {'p95 s':>7} {'cost/run':>9} {'peak MB':>8} "
                  f"{'CPU':>5} {'slots':>5}  recommendation"]
        for s in p.steps:
            lines.append(f"  {s.step:<26} {s.attempts:>5} {_num(s.p50_s, '{:.2f}'):>7} {_num(s.p95_s, '{:.2f}'):>7} "
                         f"{s.cost_per_run:>9.4f} {s.peak_rss_mb:>8.0f} {_pct(s.cpu_share):>5} "
                         f"{s.concurrency or '-':>5}  {s.recommendation}")
    if report.alerts:
        lines += ["", "alerts: " + ", ".join(f"{sev} {c['stored']} ({c['sent']} sent)"
                                              for sev, c in sorted(report.alerts.items()))]
    lines += ["", DEFINITIONS]
    return "\n".join(lines)


W, H, PAD = 560, 200, 36


def _bars(name: str, items: list[tuple[str, float]], unit: str, fmt: str = "{:.2f}", top: float | None = None) -> str:
    if not items:
        return f'<p class="empty" data-chart="{name}">no data</p>'
    top = top or max(v for _, v in items) or 1.0
    width = (W - 2 * PAD) / len(items)
    parts = [f'<svg class="chart" data-chart="{name}" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img">',
             f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#888"/>']
    for i, (label, value) in enumerate(items):
        h = (H - 2 * PAD) * value / top
        x = PAD + i * width
        parts.append(f'<rect class="datum" data-label="{escape(label)}" data-value="{value}" x="{x + 2:.1f}" '
                     f'y="{H - PAD - h:.1f}" width="{max(width - 4, 1):.1f}" height="{h:.1f}" fill="#3b7dd8">'
                     f'<title>{escape(label)}: {fmt.format(value)} {unit}</title></rect>')
        if len(items) <= 12:
            parts.append(f'<text x="{x + width / 2:.1f}" y="{H - PAD + 14}" font-size="9" text-anchor="middle">'
                         f'{escape(_short(label))}</text>')
    parts.append(f'<text x="{PAD}" y="14" font-size="11">max {fmt.format(top)} {unit}</text></svg>')
    return "".join(parts)


def _short(label: str, width: int = 18) -> str:
    return label if len(label) <= width else label[:width - 1] + "…"


def _line(name: str, values: list[tuple[str, float, str]], unit: str) -> str:
    if not values:
        return f'<p class="empty" data-chart="{name}">no data</p>'
    top = max(v for _, v, _ in values) or 1.0
    step = (W - 2 * PAD) / max(len(values) - 1, 1)
    points = [(PAD + i * step, H - PAD - (H - 2 * PAD) * v / top) for i, (_, v, _) in enumerate(values)]
    parts = [f'<svg class="chart" data-chart="{name}" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img">',
             f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#888"/>',
             '<polyline fill="none" stroke="#3b7dd8" points="'
             + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>']
    for (x, y), (label, v, status) in zip(points, values, strict=True):
        color = "#2a9d4b" if status == "completed" else "#d8453b"
        parts.append(f'<circle class="datum" data-label="{escape(label)}" data-value="{v}" cx="{x:.1f}" cy="{y:.1f}" '
                     f'r="4" fill="{color}"><title>{escape(label)}: {v:.1f} {unit} ({status})</title></circle>')
    parts.append(f'<text x="{PAD}" y="14" font-size="11">max {top:.1f} {unit}</text></svg>')
    return "".join(parts)


def as_html(report: Report) -> str:
    rows = "".join(
        f"<tr><td>{escape(p.pipeline)}</td><td>{p.runs}</td><td>{_pct(p.success_rate)}</td><td>{_num(p.mttr_min)}</td>"
        f"<td>{_pct(p.manual_intervention_rate)}</td><td>{_num(p.p50_s)}</td><td>{_num(p.p95_s)}</td>"
        f"<td>{_num(p.cost_per_run, '{:.4f}')}</td></tr>" for p in report.pipelines)
    sections = [_bars("success-rate", [(p.pipeline, 100 * (p.success_rate or 0)) for p in report.pipelines
                                       if p.success_rate is not None], "%", "{:.1f}", top=100.0)]
    body = []
    for p in report.pipelines:
        trend = [(t["workflow_id"], t["duration_s"], t["status"]) for t in p.trend]
        costs = [(t["workflow_id"], t["cost"]) for t in p.trend if t["cost"] is not None]
        steps = [(s.step, s.p50_s or 0.0) for s in sorted(p.steps, key=lambda s: -(s.p50_s or 0))]
        sizing = "".join(f"<tr><td>{escape(s.step)}</td><td>{escape(s.queue)}</td><td>{s.concurrency or '-'}</td>"
                         f"<td>{s.peak_rss_mb:.0f}</td><td>{_pct(s.cpu_share)}</td><td>{s.cost_per_run:.4f}</td>"
                         f"<td>{escape(s.recommendation)}</td></tr>" for s in p.steps)
        body.append(f"<section><h2>{escape(p.pipeline)}</h2>"
                    f"<h3>Duration trend (s per run)</h3>{_line(f'duration-trend-{p.pipeline}', trend, 's')}"
                    f"<h3>Cost per run</h3>{_bars(f'cost-per-run-{p.pipeline}', costs, 'cost units', '{:.4f}')}"
                    f"<h3>Step breakdown (p50 s)</h3>{_bars(f'step-breakdown-{p.pipeline}', steps, 's')}"
                    "<h3>Right-sizing</h3><table><tr><th>step</th><th>queue</th><th>slots</th><th>peak MB</th>"
                    f"<th>CPU</th><th>cost/run</th><th>recommendation</th></tr>{sizing}</table></section>")
    alerts = ", ".join(f"{escape(sev)}: {c['stored']} ({c['sent']} sent)" for sev, c in sorted(report.alerts.items()))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mlwright report</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:1000px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child{{text-align:left}}
svg.chart{{display:block;margin:0.5em 0;background:#fafafa}}</style></head><body>
<h1>mlwright report</h1><p>{report.since:%Y-%m-%d %H:%M} → {report.until:%Y-%m-%d %H:%M} UTC</p>
<table><tr><th>pipeline</th><th>runs</th><th>success</th><th>MTTR min</th><th>manual</th><th>p50 s</th>
<th>p95 s</th><th>cost/run</th></tr>{rows}</table>
<h3>Success rate (%)</h3>{"".join(sections)}
{"".join(body)}
<p>Alerts: {alerts or "none"}</p><p><small>{escape(DEFINITIONS)}</small></p>
</body></html>
"""
