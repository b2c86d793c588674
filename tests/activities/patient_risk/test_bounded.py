"""run_bounded: at most ``in_flight`` calls at once, items built only as room frees up, and the first
failure stops new calls once those running have finished."""

from __future__ import annotations

import threading

import pytest

from activities.patient_risk.bounded import run_bounded


class Gauge:
    def __init__(self) -> None:
        self.now = self.peak = 0
        self.lock = threading.Lock()
        self.all_in = threading.Barrier(3, timeout=10)

    def call(self, item: int) -> int:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        if item < 3:
            self.all_in.wait()  # the first three are running together, or this times out
        with self.lock:
            self.now -= 1
        return item


def test_runs_in_flight_at_once_never_more_and_reports_each_result():
    gauge, built, seen = Gauge(), [], []

    def items():
        for i in range(20):
            built.append(i)
            assert len(built) - len(seen) <= 4  # built lazily: at most in_flight + 1 ahead
            yield i

    run_bounded(gauge.call, items(), in_flight=3, on_done=seen.append)
    assert sorted(seen) == list(range(20)) and gauge.peak == 3


def test_the_first_failure_stops_new_calls_and_is_raised_after_those_running():
    started, finished = [], []
    release = threading.Event()

    def call(item: int) -> int:
        started.append(item)
        if item == 1:
            release.set()
            raise RuntimeError("bundle 1 refused")
        assert release.wait(10)  # bundle 0 is still running when 1 fails
        finished.append(item)
        return item

    with pytest.raises(RuntimeError, match="bundle 1 refused"):
        run_bounded(call, iter(range(100)), in_flight=2)
    assert finished == [0] and started == [0, 1]
