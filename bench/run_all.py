"""`make bench`: every benchmark at a small size, one after another, then one summary table.

Each benchmark runs as its own process (as you would run it by hand; the command is printed), so one
that fails or is missing costs only its row. The summary shows each one's headline figures, taken
from its output; a benchmark whose output is not recognised shows its last line instead. Full
outputs go to a temporary directory named at the end. Sizes are small so the whole run stays
within a few minutes; for the figures the README quotes, run each benchmark with its defaults.

    python bench/run_all.py [--only throughput overhead ...]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    args: tuple[str, ...]
    headline: Callable[[str, Path], str]  # (stdout, its JSON side file) -> the figures worth a glance
    timeout_s: float = 240


def _row(text: str, label: str) -> list[str] | None:
    """The figures of the table row that starts with ``label``."""
    for line in text.splitlines():
        if line.startswith(label) and line[len(label):][:1] == " ":
            return line[len(label):].split()
    return None


def overhead(text: str, _: Path) -> str:
    ours, plain = _row(text, "mlwright"), _row(text, "temporalio defaults")
    ratio = re.search(r"ratio defaults/mlwright: ([\d.]+x)", text)
    return f"{ours[0]} ms/step vs defaults {plain[0]} ms/step (defaults/mlwright {ratio.group(1)})"


def tracing(text: str, _: Path) -> str:
    off = _row(text, "off")
    both = re.search(r"tracing\+ledger adds ([+\-\d.]+) ms/step wall \(ratio ([\d.]+x)\)", text)
    return f"off {off[0]} ms/step; tracing+ledger adds {both.group(1)} ms/step ({both.group(2)})"


def throughput(_: str, side: Path) -> str:
    rounds = json.loads(side.read_text())
    parts = []
    for n in sorted({r["n"] for r in rounds}):
        mine = [r for r in rounds if r["n"] == n and r["setup"] == "mlwright"]
        plain = {r["repeat"]: r for r in rounds if r["n"] == n and r["setup"] == "temporalio defaults"}
        ratio = statistics.median(r["activities_per_s"] / plain[r["repeat"]]["activities_per_s"] for r in mine)
        bad = sum(r["failed"] + r["stuck"] for r in rounds if r["n"] == n)
        parts.append(f"N={n}: {statistics.median(r['activities_per_s'] for r in mine):.0f} activities/s, "
                     f"{ratio:.2f}x defaults, {bad} failed/stuck")
    return "; ".join(parts)


def patient_risk(text: str, _: Path) -> str:
    found = re.search(r"([\d,]+) patients: end to end\s+([\d.]+) s, orchestration\s+([\d.]+%)", text)
    return f"{found.group(1)} patients end to end {found.group(2)} s, orchestration {found.group(3)}"


def features(text: str, _: Path) -> str:
    total = re.search(r"^total\s+([\d.]+) s", text, re.M)
    rss = re.search(r"^peak RSS\s+(\d+) MB", text, re.M)
    return f"features+stats+drift {total.group(1)} s, peak RSS {rss.group(1)} MB"


def drift(text: str, _: Path) -> str:
    rows = re.findall(r"^(\S.*?)\s+(\d+)\s+(?:[\d.]+\s+){4}([\d.]+)\s*$", text, re.M)
    false_positive = max(float(rate) for case, _, rate in rows if case.startswith("null"))
    detected = min(float(rate) for case, n, rate in rows if case == "mean+0.25σ" and int(n) >= 10_000)
    return f"worst false-positive rate {false_positive:.2f}; 0.25σ shift detected {detected:.2f} (≥10k rows)"


def startup(text: str, _: Path) -> str:
    # Medians of bench/startup.py's "min X  median Y  max Z" lines.
    up = dict(re.findall(r"^  (fresh|initialised)\s+min\s+[\d.]+\s+median\s+([\d.]+)", text, re.M))
    rss = re.findall(r"^  (pipelines|io|cpu|training)\s+min\s+[\d.]+\s+median\s+([\d.]+)", text, re.M)
    return (f"up fresh {up.get('fresh', '?')} s, initialised {up.get('initialised', '?')} s; idle RSS MB "
            + ", ".join(f"{q} {m}" for q, m in rss))


def last_line(text: str, _: Path) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output)"


BENCHES = [
    Bench("overhead", "overhead.py", ("--runs", "5"), overhead),
    Bench("tracing_overhead", "tracing_overhead.py", ("--runs", "5"), tracing),
    # A round past --timeout counts its open runs as stuck: generous, as a loaded machine is slow, not stuck.
    Bench("throughput", "throughput.py", ("--sizes", "10", "100", "--repeats", "1", "--timeout", "600"),
          throughput, timeout_s=1200),
    Bench("patient_risk", "patient_risk.py", ("--sizes", "2000", "--recovery-size", "0"), patient_risk,
          timeout_s=600),
    Bench("features", "features.py", ("--patients", "20000"), features),
    Bench("drift", "drift.py", ("--draws", "10"), drift),
    Bench("startup", "startup.py", ("--runs", "2"), startup),
]


def run(bench: Bench, out_dir: Path) -> tuple[str, str, float]:
    """(status, figures, seconds)."""
    script = HERE / bench.script
    if not script.exists():
        return "missing", f"no bench/{bench.script} on this branch", 0.0
    side = out_dir / f"{bench.name}.json"
    args = [*bench.args, "--json", str(side)] if bench.headline is throughput else list(bench.args)
    command = [sys.executable, str(script), *args]
    print(f"== {bench.name}: {' '.join(['python', f'bench/{bench.script}', *args])}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=bench.timeout_s, cwd=HERE.parent)
    except subprocess.TimeoutExpired as e:
        (out_dir / f"{bench.name}.out").write_text((e.stdout or b"").decode() if isinstance(e.stdout, bytes)
                                                   else e.stdout or "")
        return "timeout", f"over {bench.timeout_s:.0f} s", time.perf_counter() - started
    elapsed = time.perf_counter() - started
    (out_dir / f"{bench.name}.out").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        return f"exit {done.returncode}", last_line(done.stderr or done.stdout, side), elapsed
    try:
        return "ok", bench.headline(done.stdout, side), elapsed
    except (AttributeError, TypeError, ValueError, OSError, KeyError, ZeroDivisionError, statistics.StatisticsError):
        return "ok", f"(output not recognised) {last_line(done.stdout, side)}", elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=[b.name for b in BENCHES])
    args = parser.parse_args()
    out_dir = Path(tempfile.mkdtemp(prefix="mlwright-bench-"))
    rows = [(b.name, *run(b, out_dir)) for b in BENCHES if not args.only or b.name in args.only]
    width = max(len(name) for name, *_ in rows)
    print(f"\n{'bench':<{width}}  {'status':<9}{'time':>7}  figures")
    for name, status, figures, seconds in rows:
        print(f"{name:<{width}}  {status:<9}{seconds:>6.0f}s  {figures}")
    print(f"total {sum(r[3] for r in rows):.0f} s; full outputs in {out_dir}")
    sys.exit(0 if all(status in ("ok", "missing") for _, status, *_ in rows) else 1)


if __name__ == "__main__":
    main()
