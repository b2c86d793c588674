"""bench/run_all.py (`make bench`) and the /proc sampling of bench/throughput.py."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str):
    if str(BENCH) not in sys.path:  # the bench scripts import their siblings (shape) as top-level modules
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


run_all = load("run_all")
throughput = load("throughput")


def bench(tmp_path: Path, body: str | None, headline=None):
    script = tmp_path / "fake_bench.py"
    if body is not None:
        script.write_text(body)
    return run_all.Bench("fake", str(script), (), headline or run_all.last_line, timeout_s=60)


def test_a_missing_bench_is_a_row_not_a_failure(tmp_path):
    status, figures, _ = run_all.run(bench(tmp_path, None), tmp_path)
    assert status == "missing"
    assert "fake_bench.py" in figures


def test_a_failing_bench_shows_its_exit_code_and_last_error_line(tmp_path):
    status, figures, _ = run_all.run(bench(tmp_path, "import sys\nsys.exit('seeding failed')\n"), tmp_path)
    assert (status, figures) == ("exit 1", "seeding failed")


def test_unrecognised_output_falls_back_to_the_last_line(tmp_path):
    fake = bench(tmp_path, "print('a table nobody parses')\n", headline=run_all.overhead)
    status, figures, _ = run_all.run(fake, tmp_path)
    assert status == "ok"
    assert figures == "(output not recognised) a table nobody parses"


def test_headlines_read_the_benches_own_output_formats():
    overhead = ("setup                       median ms/step     p25     p75  median total ms\n"
                "mlwright                               7.5     7.2     7.9              172\n"
                "temporalio defaults                   35.9    32.0    37.2              826\n"
                "ratio defaults/mlwright: 4.79x; default server/tuned server (same workers): 9.57x\n")
    assert run_all.overhead(overhead, Path()) == "7.5 ms/step vs defaults 35.9 ms/step (defaults/mlwright 4.79x)"
    tracing = ("off                         6.10    5.90    6.40              140         4.10\n"
               "tracing+ledger adds +1.92 ms/step wall (ratio 1.31x), +1.20 ms/step CPU\n")
    assert run_all.tracing(tracing, Path()) == "off 6.10 ms/step; tracing+ledger adds +1.92 ms/step (1.31x)"
    features = "total           2.95 s   target < 20 s\npeak RSS         321 MB  target < 2048 MB\n"
    assert run_all.features(features, Path()) == "features+stats+drift 2.95 s, peak RSS 321 MB"
    drift = ("null                  1000            0.000          0.000          0.100              0          0.100\n"
             "null-cat             10000            0.000          0.000          0.000          0.000          0.000\n"
             "mean+0.25σ           10000            0.000          1.000          1.000          0.000          0.900\n"
             "mean+0.25σ          100000            0.000          1.000          1.000          0.000          1.000\n")
    assert run_all.drift(drift, Path()) == "worst false-positive rate 0.10; 0.25σ shift detected 0.90 (≥10k rows)"
    startup = ("this checkout: `mlwright up` until every task queue is polled, 2 runs (seconds):\n"
               "  fresh        min   4.65  median   5.40  max   6.14   target <= 5 s\n"
               "  initialised  min   4.59  median   5.41  max   7.00   target <= 2 s\n"
               "this checkout: idle worker RSS after ready (MB, VmRSS):\n"
               "  pipelines    min  85.00  median  86.00  max  87.00   target <= 120 MB  ok\n"
               "  io           min 214.00  median 214.00  max 214.00   target <= 180 MB  OVER\n")
    assert run_all.startup(startup, Path()) == ("up fresh 5.40 s, initialised 5.41 s; idle RSS MB pipelines 86.00, "
                                                "io 214.00")


def test_throughput_headline_pairs_rounds_of_the_same_repeat(tmp_path):
    side = tmp_path / "throughput.json"
    rounds = [{"n": 100, "repeat": 0, "setup": "mlwright", "activities_per_s": 300.0, "failed": 0, "stuck": 1},
              {"n": 100, "repeat": 0, "setup": "temporalio defaults", "activities_per_s": 100.0, "failed": 0,
               "stuck": 0},
              {"n": 100, "repeat": 1, "setup": "mlwright", "activities_per_s": 100.0, "failed": 0, "stuck": 0},
              {"n": 100, "repeat": 1, "setup": "mlwright+config", "activities_per_s": 900.0, "failed": 0,
               "stuck": 0},
              {"n": 100, "repeat": 1, "setup": "temporalio defaults", "activities_per_s": 100.0, "failed": 0,
               "stuck": 0}]
    side.write_text(json.dumps(rounds))
    assert run_all.throughput("", side) == "N=100: 200 activities/s, 2.00x defaults, 1 failed/stuck"


def test_the_sampler_keeps_a_childs_peak_rss_after_it_fell_again():
    code = ("import sys\nblock = bytearray(200 * 2**20)\nblock[::4096] = b'x' * len(block[::4096])\n"
            "print('held', flush=True)\nsys.stdin.readline()\ndel block\nprint('freed', flush=True)\n"
            "sys.stdin.readline()\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    sampler = throughput.ProcSampler({"child": child.pid}, every_s=0.001)
    sampler.start()
    try:
        assert child.stdout.readline() == "held\n"
        deadline = time.monotonic() + 30
        while sampler.peaks["child"] < 200 * 1024 and time.monotonic() < deadline:
            time.sleep(0.01)  # polling the condition itself, with a deadline
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline() == "freed\n"
        now = throughput.rss_kb(child.pid)
    finally:
        peaks = sampler.stop()
        child.communicate("\n", timeout=30)
    assert peaks["child"] >= 200 * 1024
    assert now < peaks["child"] - 100 * 1024  # the peak outlived the memory
    assert throughput.rss_kb(child.pid) == 0  # gone: a finished process reads as 0, not an error


def test_cpu_seconds_grow_with_work():
    before = throughput.cpu_s(os.getpid())
    sum(i * i for i in range(3_000_000))
    assert throughput.cpu_s(os.getpid()) > before


def test_settings_must_be_mlwright_ones():
    assert throughput.env_pair("MLWRIGHT_CPU_CONCURRENCY=8") == ("MLWRIGHT_CPU_CONCURRENCY", "8")
    with pytest.raises(argparse.ArgumentTypeError, match="MLWRIGHT_NAME=VALUE"):
        throughput.env_pair("CPU_CONCURRENCY=8")
