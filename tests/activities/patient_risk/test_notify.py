"""The alert sender's window: deliveries marked a window's worth per commit, few ever unconfirmed."""

from __future__ import annotations

import threading
from concurrent.futures import wait

import pytest

from activities.patient_risk import notify
from activities.patient_risk.notify import UNCONFIRMED_PER_SENDER, _Window


class Receiver:
    def __init__(self, fail: str | None = None) -> None:
        self.fail, self.in_flight, self.most_in_flight, self.marked = fail, 0, 0, []
        self.sent_count, self.unmarked_at_send, self.delivered, self.commits = 0, [], [], []
        self._lock = threading.Lock()

    def send(self, item) -> str:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            # Delivered but not yet marked: what a crash now would re-send.
            self.unmarked_at_send.append(self.sent_count - len(self.marked))
        try:
            if item[0] == self.fail:
                raise ConnectionError("route down")
            with self._lock:
                self.delivered.append(item[0])
            return item[0]
        finally:
            with self._lock:
                self.in_flight -= 1
                self.sent_count += 1

    def mark(self, keys: list[str]) -> None:
        self.marked.extend(keys)
        self.commits.append(len(keys))


ITEMS = [(f"k{i}", "warning", {}) for i in range(50)]


def test_every_delivery_is_marked_and_few_are_ever_unmarked():
    receiver = Receiver()
    assert _Window(receiver.send, receiver.mark, size=3).run(ITEMS) == 50
    assert sorted(receiver.marked) == sorted(k for k, _, _ in ITEMS)
    # What a crash would re-send: never more than the bound of unconfirmed alerts.
    assert receiver.most_in_flight <= 3 and max(receiver.unmarked_at_send) < UNCONFIRMED_PER_SENDER * 3


def test_marks_are_committed_a_windows_worth_at_a_time(monkeypatch):
    """Deliveries finish one at a time, each only once the window is back waiting for the next, so
    every wait sees exactly one finished delivery: a window that committed whatever had finished
    would commit one key at a time here, every run. Each commit lets exactly ``size`` more
    deliveries through."""
    receiver, credits, waiting, turn = Receiver(), threading.Semaphore(3), threading.Semaphore(0), threading.Lock()
    send, mark = receiver.send, receiver.mark

    def observed_wait(futures, return_when):
        waiting.release()
        return wait(futures, return_when=return_when)

    def gated(item):
        assert credits.acquire(timeout=10), "no commit let this delivery through"
        with turn:
            assert waiting.acquire(timeout=10), "the window never waited for this delivery"
            return send(item)

    def committed(keys):
        mark(keys)
        credits.release(len(keys))

    monkeypatch.setattr(notify, "wait", observed_wait)
    assert _Window(gated, committed, size=3).run(ITEMS) == 50
    assert receiver.commits == [3] * 16 + [2] and sorted(receiver.marked) == sorted(k for k, _, _ in ITEMS)


def test_a_failed_delivery_fails_the_step_after_marking_the_ones_that_went_out():
    receiver = Receiver(fail="k10")
    with pytest.raises(ConnectionError):
        _Window(receiver.send, receiver.mark, size=4).run(ITEMS)
    # Every alert that went out is marked, even those that finished after the failure.
    assert sorted(receiver.marked) == sorted(receiver.delivered) and "k10" not in receiver.marked
