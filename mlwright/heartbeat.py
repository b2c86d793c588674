"""Heartbeats with progress details for steps whose work is one long blocking call, and the way
such a step learns it must stop.

``Step.defn`` opens ``heartbeating`` around every step whose policy has a heartbeat timeout, so a
step can never be declared lost just because it is busy; inside, a step calls ``phase("fit")``
to say where it is, and that appears in the heartbeat details and the worker log.

A sync activity learns of cancellation only through a heartbeat's reply (the workflow cancelled
it, or the run is gone: terminated, timed out, reset). The SDK then sets ``is_cancelled()`` and
raises ``CancelledError`` into the activity thread wherever it happens to be, which code that
catches ``Exception`` (a logging handler, a library's cleanup) can swallow. So every loop over
pages or batches also calls ``check_cancelled()`` between items: the step stops at a clean point.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.exceptions import CancelledError

from mlwright import step_spans


@dataclass
class _Beat:
    set_phase: Callable[[str], None]
    # Set when a heartbeat could not be recorded at all: the activity is gone, so its work is moot.
    lost: threading.Event = field(default_factory=threading.Event)


_current: contextvars.ContextVar[_Beat | None] = contextvars.ContextVar("mlwright_heartbeat", default=None)


@contextmanager
def heartbeating(step: str, every_s: float) -> Iterator[Callable[[str], None]]:
    """Heartbeat every ``every_s`` from a side thread; yields the function that names the phase."""
    outer = _current.get()
    if outer is not None:  # already heartbeating for this activity
        yield outer.set_phase
        return
    phase_now = ["start"]
    started = time.monotonic()
    stop = threading.Event()

    def set_phase(name: str) -> None:
        phase_now[0] = name
        activity.logger.info("%s: %s (%.1fs)", step, name, time.monotonic() - started)
        beat()

    state = _Beat(set_phase)

    def beat() -> None:
        try:
            activity.heartbeat({"step": step, "phase": phase_now[0],
                                "elapsed_s": round(time.monotonic() - started, 1)})
        except Exception:  # noqa: BLE001 - whatever the cause, a step that cannot heartbeat must stop
            activity.logger.warning("%s: heartbeat failed; the step stops at its next check", step, exc_info=True)
            state.lost.set()

    def loop() -> None:
        while not stop.wait(every_s) and not state.lost.is_set():
            beat()

    # The activity context lives in context variables: the side thread needs a copy of them.
    thread = threading.Thread(target=contextvars.copy_context().run, args=(loop,), daemon=True)
    thread.start()

    token = _current.set(state)
    try:
        yield set_phase
    finally:
        _current.reset(token)
        stop.set()
        thread.join()


def phase(name: str) -> None:
    """Report the current phase of the running step (a no-op outside a heartbeating step)."""
    step_spans.phase(name)  # each phase is also a span, heartbeating or not
    state = _current.get()
    if state is not None:
        state.set_phase(name)


def check_cancelled() -> None:
    """Raise ``CancelledError`` if the running step was cancelled or its heartbeats are lost.

    Call it between pages and batches: cheap (no I/O), and a no-op outside an activity.
    """
    state = _current.get()
    if state is not None and state.lost.is_set():
        raise CancelledError("step stopped: its heartbeats are no longer recorded")
    if activity.in_activity() and activity.is_cancelled():
        details = activity.cancellation_details()
        why = "the run is gone" if details is not None and details.not_found else "cancelled"
        raise CancelledError(f"step stopped: {why}")
