"""Steps 18-21 of the PatientRiskPipeline on their own: care write, FHIR write, verification, alerts.

For each population size and repeat, each tree (this checkout and a baseline checkout, e.g. main)
runs the four steps in its own process against its own FHIR server and alert inbox process (that
tree's `mlwright.services`, fresh database), in alternating order, on the same synthetic risk table.
Printed per step: wall seconds (median, p25/p75 over repeats), the step process's and the FHIR
server's CPU seconds (on 2 shared cores, client + server CPU bounds what parallel bundles can gain),
the step process's peak RSS, and what was written (counts and checksums), which must agree.

    python bench/fhir_delivery.py --baseline /work/main --sizes 100000 --repeats 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.request import urlopen

from procs import cpu_with_children_s

HERE = Path(__file__).resolve().parent.parent

SERVER = """
import sys, threading
from mlwright.services import alert_inbox, fhir
from mlwright.settings import Settings
parsers = getattr(Settings(), "dev_fhir_parse_processes", None)  # a baseline may predate the setting
server = fhir.serve(sys.argv[1], **({} if parsers is None else {"parse_processes": parsers})).start()
inbox = alert_inbox.serve()[0].start()
print(server.url, inbox.url, flush=True)
sys.stdin.read()
server.stop()
inbox.stop()
"""

# Runs inside the tree under test: its own activities, contracts and settings.
STEPS = """
import json, os, resource, sys, time
import numpy as np, pandas as pd
from temporalio.testing import ActivityEnvironment
from activities.deps import ActivityDeps
from activities.patient_risk.deps import PatientRiskDeps
from activities.patient_risk.delivery import DeliveryActivities
from activities.patient_risk.notify import NotifyActivities
from mlwright.contracts import patient_risk as c
from mlwright.settings import Settings

n, home, fhir_url, inbox_url = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
routes = {"critical": [inbox_url], "warning": [inbox_url], "info": []}
settings = Settings(environment="test", home=home, fhir_url=fhir_url, alert_routes=routes)
rng = np.random.default_rng(7)
scores = rng.random((n, 3))
score = scores @ np.array([0.5, 0.3, 0.2])
tier = np.where(score > 0.8, "high", np.where(score > 0.6, "medium", "low"))
frame = pd.DataFrame({"patient_id": [f"P{i:07d}" for i in range(n)], "readmission": scores[:, 0],
                      "deterioration": scores[:, 1], "acuity": scores[:, 2], "score": score, "tier": tier,
                      "rules": np.where(score > 0.9, "critical_lactate", "")})
base = ActivityDeps.from_settings(settings)
ref = base.artifacts.put_frame(frame)
del frame, scores, score, tier
risk = c.RiskTable(data=ref, model_versions={"readmission-risk": 1, "deterioration-risk": 1, "acuity-risk": 1},
                   tiers={}, overrides=0, overrides_ref=ref)
run = c.RunRef(workflow_id="bench-delivery", run_id="r1", run_date="2026-11-27")
pr = PatientRiskDeps.build(base, settings)
steps, notify = DeliveryActivities(pr), NotifyActivities(pr)
out = {}
def timed(name, fn, inp):
    wall, cpu = time.perf_counter(), time.process_time()
    result = ActivityEnvironment().run(fn, inp)
    out[name] = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
                 "peak_rss_mb_after": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(json.dumps({"step": name}), flush=True)
    sys.stdin.readline()  # the parent reads the server's CPU between steps
    return result
care = timed("write_care_management", steps.write_care_management, c.RiskInput(run=run, risk=risk))
fhir = timed("write_fhir", steps.write_fhir, c.RiskInput(run=run, risk=risk))
report = timed("verify_writes", steps.verify_writes, c.VerifyInput(run=run, risk=risk, writes=[care, fhir]))
alerts = timed("send_alerts", notify.send_alerts, c.RiskInput(run=run, risk=risk))
out["written"] = {"alerts_sent": alerts.sent, "care": [care.rows, care.checksum[:12]], "fhir": [fhir.rows, fhir.checksum[:12]],
                  "verified": {k: [report.counts[k], v[:12]] for k, v in report.checksums.items()}}
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out), flush=True)
"""


def run(tree: Path, n: int) -> dict:
    python = tree / ".venv" / "bin" / "python"
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
        server = subprocess.Popen([python, "-c", SERVER, f"{tmp}/fhir.db"], cwd=tree, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        fhir_url, inbox_url = server.stdout.readline().split()
        env = {**os.environ, "MLWRIGHT_LOG_LEVEL": "WARNING"}
        steps = subprocess.Popen([python, "-c", STEPS, str(n), f"{tmp}/state", f"{fhir_url}/fhir",
                                  f"{inbox_url}/alerts"], cwd=tree, env=env,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        server_cpu, before = {}, cpu_with_children_s(server.pid)
        while True:
            line = json.loads(steps.stdout.readline())
            if "step" not in line:
                break
            now = cpu_with_children_s(server.pid)
            server_cpu[line["step"]], before = now - before, now
            steps.stdin.write("\n")
            steps.stdin.flush()
        steps.wait()
        accepted = json.loads(urlopen(f"{inbox_url}/alerts").read())["accepted"]  # noqa: S310 - loopback
        server.stdin.close()
        server.wait()
        db = sqlite3.connect(f"{tmp}/fhir.db")
        bodies = "\n".join(sorted(b for (b,) in db.execute("select body from resource")))
        db.close()
    line["written"]["inbox_accepted"] = accepted
    line["written"]["fhir_bodies"] = hashlib.sha256(bodies.encode()).hexdigest()[:12]
    for step, seconds in server_cpu.items():
        line[step]["server_cpu_s"] = seconds
    return line


def spread(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:7.2f}"
    q = statistics.quantiles(values, n=4, method="inclusive")
    return f"{statistics.median(values):7.2f} [{q[0]:.2f}-{q[2]:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout with its .venv, e.g. main")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    trees = {"baseline": args.baseline.resolve(), "this": HERE}
    for n in args.sizes:
        results: dict[str, list[dict]] = {k: [] for k in trees}
        for rep in range(args.repeats):
            order = list(trees) if rep % 2 == 0 else list(reversed(trees))  # alternate who goes first
            for name in order:
                started = time.perf_counter()
                results[name].append(run(trees[name], n))
                print(f"  {n:,} rep {rep + 1} {name}: {time.perf_counter() - started:.1f} s "
                      f"{json.dumps(results[name][-1]['written'])}", flush=True)
        print(f"\n{n:,} patients, {args.repeats} repeats: median [p25-p75] seconds")
        for step in ("write_care_management", "write_fhir", "verify_writes", "send_alerts"):
            for name in trees:
                r = results[name]
                print(f"  {step:<22} {name:<8} wall {spread([x[step]['wall_s'] for x in r])}  "
                      f"step cpu {spread([x[step]['cpu_s'] for x in r])}  "
                      f"server cpu {spread([x[step]['server_cpu_s'] for x in r])}  "
                      f"peak RSS after {spread([x[step]['peak_rss_mb_after'] for x in r])} MB")
            ratio = [b[step]["wall_s"] / t[step]["wall_s"] for b, t in zip(results["baseline"], results["this"],
                                                                            strict=True)]
            print(f"  {step:<22} baseline/this wall ratio per repeat {[round(x, 2) for x in ratio]}")
        for name in trees:
            print(f"  peak RSS {name:<8} {spread([x['peak_rss_mb'] for x in results[name]])} MB")
        same = {json.dumps(x["written"], sort_keys=True) for r in results.values() for x in r}
        print(f"  written the same by every run: {len(same) == 1} {sorted(same)}", flush=True)


if __name__ == "__main__":
    main()
    sys.exit(0)
